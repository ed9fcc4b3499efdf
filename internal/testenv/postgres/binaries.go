package postgres

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// binariesRoot is where Debian's packages put each major version's
// binaries: /usr/lib/postgresql/15/bin/postgres. A variable for a test.
var binariesRoot = "/usr/lib/postgresql"

// errNoBinaries names the way to get them.
var errNoBinaries = errors.New("PostgreSQL's server binaries (initdb, postgres) are not installed under /usr/lib/postgresql/*/bin: run `make postgres`, which installs Debian's postgresql package")

// systemUser is who runs the server when the tests run as root: the user
// Debian's package creates.
const systemUser = "postgres"

// binaries is one major version's folder of server binaries.
type binaries struct {
	dir     string
	version int
}

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

// findBinaries picks the newest major version that has initdb and postgres.
func findBinaries() (binaries, error) {
	entries, err := os.ReadDir(binariesRoot)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return binaries{}, err
	}
	var best binaries
	for _, e := range entries {
		version, err := strconv.Atoi(e.Name())
		if err != nil || version <= best.version {
			continue
		}
		b := binaries{dir: filepath.Join(binariesRoot, e.Name(), "bin"), version: version}
		if isFile(b.path("initdb")) && isFile(b.path("postgres")) {
			best = b
		}
	}
	if best.version == 0 {
		return binaries{}, errNoBinaries
	}
	return best, nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// unprivilegedUser is who runs initdb and the server: nil (this process's
// user) unless that is root, which PostgreSQL refuses; then systemUser.
func unprivilegedUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no user %s to run it as (%w): run `make postgres`, which installs Debian's postgresql package", systemUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil // no supplementary groups
}

// chownAll gives dir and everything in it to the user the server runs as.
func chownAll(dir string, to *syscall.Credential) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(to.Uid), int(to.Gid))
	})
}
