package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one file of a bundle: its name in the bundle (slash-separated,
// under the top folder) and its content, from Data or else from Path.
type File struct {
	Name string
	Data []byte
	Path string
	Mode fs.FileMode
}

// Dir lists the regular files under dir as Files named under prefix.
func Dir(dir, prefix string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, File{Name: path.Join(prefix, filepath.ToSlash(rel)), Path: p, Mode: 0o644})
		return nil
	})
	return files, err
}

// epoch is every entry's time, so that the same files make the same archive.
var epoch = time.Unix(0, 0).UTC()

// Create writes a gzip'd tar of files under the folder top, beginning with
// SHA256SUMS, which lists them, and SHA256SUMS.sig, which signs that list
// with key.
func Create(w io.Writer, top string, files []File, key ed25519.PrivateKey) error {
	if !validName(top) || strings.Contains(top, "/") {
		return fmt.Errorf("bundle folder %q: want one plain name", top)
	}
	files = append([]File(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var sums bytes.Buffer
	for i, f := range files {
		if !validName(f.Name) || f.Name == Checksums || f.Name == ChecksumsSig {
			return fmt.Errorf("bundle file name %q is not allowed", f.Name)
		}
		if i > 0 && files[i-1].Name == f.Name {
			return fmt.Errorf("bundle file %s is given twice", f.Name)
		}
		h := sha256.New()
		if err := f.copyTo(h); err != nil {
			return err
		}
		// Two spaces: sha256sum's text mode, which --check reads.
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), f.Name)
	}
	// The signed list first: Extract checks it before it writes anything else.
	files = append([]File{
		{Name: Checksums, Data: sums.Bytes()},
		{Name: ChecksumsSig, Data: ed25519.Sign(key, sums.Bytes())},
	}, files...)

	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, f := range files {
		for _, d := range parents(path.Join(top, f.Name)) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		size, err := f.size()
		if err != nil {
			return err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(top, f.Name), Size: size, Mode: int64(mode.Perm()), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := f.copyTo(tw); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// parents are the folders above name, outermost first.
func parents(name string) []string {
	var out []string
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

func (f File) size() (int64, error) {
	if f.Data != nil || f.Path == "" {
		return int64(len(f.Data)), nil
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f File) copyTo(w io.Writer) error {
	if f.Data != nil || f.Path == "" {
		_, err := w.Write(f.Data)
		return err
	}
	r, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// validName is a clean, relative, slash-separated name without "..", so
// that it means the same in the archive, in SHA256SUMS and on disk.
func validName(name string) bool {
	if name == "" || len(name) > 512 || path.Clean(name) != name || path.IsAbs(name) || strings.ContainsAny(name, "\\\n\r\x00") {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." {
			return false
		}
	}
	return true
}
