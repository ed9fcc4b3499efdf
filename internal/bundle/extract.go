package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// Limits bound what Extract writes.
type Limits struct {
	Files     int   // entries, folders included
	FileBytes int64 // one file
	Bytes     int64 // all files
}

// DefaultLimits are well above a real bundle's (about 60 entries, 170 MiB
// unpacked).
var DefaultLimits = Limits{Files: 10_000, FileBytes: 512 << 20, Bytes: 1 << 30}

// Extract unpacks a bundle archive's top folder into dir, which must be
// empty or absent, and returns the folder's name (lockstep-1.0). The archive
// must begin with SHA256SUMS and its signature by pub: nothing else is
// written before the list is checked, and then only the files it lists,
// each checked against its checksum as it is written. Only folders and
// regular files under the one top folder are accepted: no links, no
// devices, no absolute names, no "..". Verify then checks what the files
// say about each other.
func Extract(r io.Reader, dir string, pub ed25519.PublicKey, lim Limits) (string, error) {
	if err := emptyDir(dir); err != nil {
		return "", err
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("not a bundle (a gzip'd tar): %w", err)
	}
	x := extraction{dir: dir, pub: pub, lim: lim, written: map[string]bool{}}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the bundle: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return "", err
		}
	}
	if x.top == "" {
		return "", errors.New("the bundle is empty")
	}
	if x.listed == nil {
		return "", errNoChecksums
	}
	var missing []string
	for name := range x.listed {
		if !x.written[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("the bundle lacks files %s lists: %s", Checksums, strings.Join(missing, ", "))
	}
	return x.top, nil
}

var errNoChecksums = fmt.Errorf("not a Lockstep bundle: it does not begin with %s and %s", Checksums, ChecksumsSig)

// extraction is the state of one Extract.
type extraction struct {
	dir       string
	pub       ed25519.PublicKey
	lim       Limits
	top       string
	n         int
	total     int64
	sums, sig []byte
	listed    map[string]string // once the signature holds
	written   map[string]bool
}

func (x *extraction) entry(hdr *tar.Header, r io.Reader) error {
	if x.n++; x.n > x.lim.Files {
		return fmt.Errorf("the bundle has more than %d entries", x.lim.Files)
	}
	name := strings.TrimSuffix(hdr.Name, "/")
	first, rest, _ := strings.Cut(name, "/")
	if x.top == "" {
		x.top = first
	}
	if first != x.top || !validName(name) {
		return fmt.Errorf("bundle entry %q is not under the bundle's folder %q, or not a clean relative name", hdr.Name, x.top)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		// Folders are made for the listed files only, never from these
		// entries: an unlisted folder costs an inode and a block each.
		return nil
	case tar.TypeReg:
	default:
		return fmt.Errorf("bundle entry %q is a %s: only folders and regular files are accepted", hdr.Name, typeName(hdr.Typeflag))
	}
	if rest == "" {
		return fmt.Errorf("bundle entry %q: a file where the folder should be", hdr.Name)
	}
	if hdr.Size > x.lim.FileBytes {
		return fmt.Errorf("bundle file %s is %d bytes, more than %d", rest, hdr.Size, x.lim.FileBytes)
	}
	if x.total += hdr.Size; x.total > x.lim.Bytes {
		return fmt.Errorf("the bundle's files are more than %d bytes in all", x.lim.Bytes)
	}
	if x.listed == nil {
		return x.checksums(rest, hdr, r)
	}
	want, ok := x.listed[rest]
	switch {
	case !ok:
		return fmt.Errorf("bundle file %s is not listed in %s", rest, Checksums)
	case x.written[rest]:
		return fmt.Errorf("bundle file %s is in the archive twice", rest)
	}
	x.written[rest] = true
	target := filepath.Join(x.dir, filepath.FromSlash(rest))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	got, err := writeFile(target, r, hdr)
	if err != nil {
		return fmt.Errorf("bundle file %s: %w", rest, err)
	}
	if got != want {
		os.Remove(target)
		return fmt.Errorf("%s does not match its checksum: it was changed", rest)
	}
	return nil
}

// checksums reads the two files a bundle begins with, and checks the
// signature once it has both.
func (x *extraction) checksums(name string, hdr *tar.Header, r io.Reader) error {
	var max int64 = 1 << 20
	if name == ChecksumsSig {
		max = 1 << 10
	}
	if (name != Checksums || x.sums != nil) && (name != ChecksumsSig || x.sig != nil) || hdr.Size > max {
		return errNoChecksums
	}
	data, err := io.ReadAll(io.LimitReader(r, hdr.Size))
	if err != nil {
		return fmt.Errorf("reading the bundle: %w", err)
	}
	if name == Checksums {
		x.sums = data
	} else {
		x.sig = data
	}
	if x.sums == nil || x.sig == nil {
		return nil
	}
	if len(x.sig) != ed25519.SignatureSize || !ed25519.Verify(x.pub, x.sums, x.sig) {
		return fmt.Errorf("%s is not signed by the trusted key %s: the bundle was changed or signed by another key", Checksums, signkey.Fingerprint(x.pub))
	}
	listed, err := parseChecksums(x.sums)
	if err != nil {
		return err
	}
	x.listed = listed
	for n, data := range map[string][]byte{Checksums: x.sums, ChecksumsSig: x.sig} {
		if err := os.WriteFile(filepath.Join(x.dir, n), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFile creates a new file (never through an existing one or a link)
// with hdr's content, executable only if the archive says so, and returns
// its sha256.
func writeFile(target string, r io.Reader, hdr *tar.Header) (string, error) {
	mode := os.FileMode(0o644)
	if hdr.Mode&0o100 != 0 {
		mode = 0o755
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, hdr.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("cut short: %d of %d bytes", n, hdr.Size)
	}
	return hex.EncodeToString(h.Sum(nil)), err
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: a bundle is unpacked into an empty folder", dir)
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}
