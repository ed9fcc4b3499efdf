package bundle

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Limits bound what Extract writes, so that a hostile archive cannot fill
// the disk before it is found out.
type Limits struct {
	Files     int   // entries, folders included
	FileBytes int64 // one file
	Bytes     int64 // all files
}

// DefaultLimits are far above a real bundle's (about 60 files, 170 MiB).
var DefaultLimits = Limits{Files: 10_000, FileBytes: 1 << 30, Bytes: 2 << 30}

// Extract unpacks a bundle archive's top folder into dir, which must be
// empty or absent, and returns the folder's name (lockstep-1.0). Only folders and regular
// files under that one folder are accepted: no links, no devices, no
// absolute names, no "..". Nothing is trusted yet: Verify checks what was
// unpacked.
func Extract(r io.Reader, dir string, lim Limits) (string, error) {
	if err := emptyDir(dir); err != nil {
		return "", err
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("not a bundle (a gzip'd tar): %w", err)
	}
	tr := tar.NewReader(gz)
	var (
		top   string
		n     int
		total int64
	)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the bundle: %w", err)
		}
		if n++; n > lim.Files {
			return "", fmt.Errorf("the bundle has more than %d entries", lim.Files)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		first, rest, _ := strings.Cut(name, "/")
		if top == "" {
			top = first
		}
		if first != top || !validName(name) {
			return "", fmt.Errorf("bundle entry %q is not under the bundle's folder %q, or not a clean relative name", hdr.Name, top)
		}
		target := filepath.Join(dir, filepath.FromSlash(rest))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if rest != "" {
				if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
					return "", err
				}
			}
		case tar.TypeReg:
			if rest == "" {
				return "", fmt.Errorf("bundle entry %q: a file where the folder should be", hdr.Name)
			}
			if hdr.Size > lim.FileBytes {
				return "", fmt.Errorf("bundle file %s is %d bytes, more than %d", rest, hdr.Size, lim.FileBytes)
			}
			if total += hdr.Size; total > lim.Bytes {
				return "", fmt.Errorf("the bundle's files are more than %d bytes in all", lim.Bytes)
			}
			if err := writeFile(target, tr, hdr); err != nil {
				return "", fmt.Errorf("bundle file %s: %w", rest, err)
			}
		default:
			return "", fmt.Errorf("bundle entry %q is a %s: only folders and regular files are accepted", hdr.Name, typeName(hdr.Typeflag))
		}
	}
	if top == "" {
		return "", errors.New("the bundle is empty")
	}
	return top, nil
}

// writeFile creates a new file (never through an existing one or a link)
// with hdr's content: executable only if the archive says so.
func writeFile(target string, r io.Reader, hdr *tar.Header) error {
	mode := os.FileMode(0o644)
	if hdr.Mode&0o100 != 0 {
		mode = 0o755
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, hdr.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("cut short: %d of %d bytes", n, hdr.Size)
	}
	return err
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
