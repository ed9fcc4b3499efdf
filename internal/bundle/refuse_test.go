package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/bundle"
	"github.com/lockstep-dev/lockstep/internal/signkey"
)

// resign rewrites SHA256SUMS for what dir holds now and signs it with key:
// a signer who made a mistake, or an attacker with the key.
func resign(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	var names []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			if rel != bundle.Checksums && rel != bundle.ChecksumsSig {
				names = append(names, filepath.ToSlash(rel))
			}
		}
		return err
	})
	sort.Strings(names)
	var sums bytes.Buffer
	for _, n := range names {
		data, _ := os.ReadFile(filepath.Join(dir, n))
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	write(t, dir, bundle.Checksums, sums.Bytes())
	write(t, dir, bundle.ChecksumsSig, ed25519.Sign(key, sums.Bytes()))
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, dir, name, text string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, name, append(data, text...))
}

// A bundle that was changed after signing, signed by another key, or
// signed but inconsistent is refused, and the error says what is wrong.
func TestAChangedBundleIsRefused(t *testing.T) {
	f := newFixture(t)
	archive := f.archive(t)
	other, _ := signkey.Generate()
	cases := []struct {
		name   string
		change func(dir string)
		key    ed25519.PublicKey
		want   string
	}{
		{"another key", func(string) {}, public(other), "not signed by the trusted key"},
		{"a changed binary", func(dir string) { appendTo(t, dir, bundle.Binary, "x") }, nil, "lockstep does not match its checksum"},
		{"a changed blob", func(dir string) {
			blobs, _ := filepath.Glob(filepath.Join(dir, "image/blobs/sha256/*"))
			appendTo(t, dir, filepath.Join("image/blobs/sha256", filepath.Base(blobs[0])), "x")
		}, nil, "does not match its checksum"},
		{"an added file", func(dir string) { write(t, dir, "run-me.sh", []byte("#!/bin/sh\n")) }, nil, "files SHA256SUMS does not list: run-me.sh"},
		{"a removed file", func(dir string) { os.Remove(filepath.Join(dir, bundle.SBOM)) }, nil, "lacks files SHA256SUMS lists: sbom.cdx.json"},
		{"a changed list", func(dir string) { appendTo(t, dir, bundle.Checksums, "\n") }, nil, "not signed by the trusted key"},
		{"a cut signature", func(dir string) { write(t, dir, bundle.ChecksumsSig, []byte("x")) }, nil, "not signed by the trusted key"},
		{"a garbled list, signed", func(dir string) {
			write(t, dir, bundle.Checksums, []byte("not a checksum\n"))
			data, _ := os.ReadFile(filepath.Join(dir, bundle.Checksums))
			write(t, dir, bundle.ChecksumsSig, ed25519.Sign(f.key, data))
		}, nil, "line 1 is not"},
		{"a list naming a file outside, signed", func(dir string) {
			line := strings.Repeat("0", 64) + "  ../../etc/passwd\n"
			write(t, dir, bundle.Checksums, []byte(line))
			write(t, dir, bundle.ChecksumsSig, ed25519.Sign(f.key, []byte(line)))
		}, nil, "line 1 is not"},
		{"a binary that is not the image's, signed", func(dir string) {
			write(t, dir, bundle.Binary, []byte("\x7fELF another lockstep"))
			resign(t, dir, f.key)
		}, nil, "lockstep is not the image's /lockstep"},
		{"install.yaml for another image, signed", func(dir string) {
			write(t, dir, bundle.Install, []byte("image: lockstep@sha256:"+strings.Repeat("1", 64)+"\n"))
			resign(t, dir, f.key)
		}, nil, "install.yaml does not install the bundle's image"},
		{"an SBOM the image signature does not cover, signed", func(dir string) {
			appendTo(t, dir, bundle.SBOM, " ")
			resign(t, dir, f.key)
		}, nil, "image-signature.json: the signature is of image"},
		{"a blob that is not its digest, signed", func(dir string) {
			img, err := f.image.Layers()
			if err != nil || len(img) != 1 {
				t.Fatal(err)
			}
			layer, _ := img[0].Digest()
			appendTo(t, dir, "image/blobs/sha256/"+layer.Hex, "x")
			resign(t, dir, f.key)
		}, nil, "the image in image is not whole"},
		{"an image signature made by another key, signed", func(dir string) {
			write(t, dir, bundle.ImageSignature, []byte(`{"image":"x"}`))
			resign(t, dir, f.key)
		}, nil, "image-signature.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := unpack(t, archive)
			c.change(dir)
			key := c.key
			if key == nil {
				key = public(f.key)
			}
			_, err := bundle.Verify(dir, key)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("verify: %v, want an error with %q", err, c.want)
			}
		})
	}
}

// entry is one tar entry of a hand-made archive.
type entry struct {
	name     string
	typeflag byte
	data     string
	size     int64 // when not len(data)
	link     string
}

func hostileArchive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		size := int64(len(e.data))
		if e.size > 0 {
			size = e.size
		}
		if e.typeflag != tar.TypeReg {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typeflag, Size: size, Mode: 0o644, Linkname: e.link}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
		if pad := size - int64(len(e.data)); pad > 0 {
			if _, err := tw.Write(make([]byte, pad)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// Archives that would write outside the folder, through a link, over a
// file, or fill the disk are refused while unpacking, with why, and write
// nothing outside the folder.
func TestHostileArchivesAreRefused(t *testing.T) {
	small := bundle.Limits{Files: 5, FileBytes: 1 << 10, Bytes: 2 << 10}
	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not gzip", []byte("PK\x03\x04 a zip"), "not a bundle"},
		{"cut short", hostileArchive(t, entry{name: "b/x", typeflag: tar.TypeReg, data: "abc"})[:30], "reading the bundle"},
		{"empty", hostileArchive(t), "the bundle is empty"},
		{"a name with ..", hostileArchive(t, entry{name: "b/../../escape", typeflag: tar.TypeReg, data: "x"}), "not a clean relative name"},
		{"an absolute name", hostileArchive(t, entry{name: "/etc/cron.d/x", typeflag: tar.TypeReg, data: "x"}), "not a clean relative name"},
		{"two top folders", hostileArchive(t, entry{name: "a/x", typeflag: tar.TypeReg, data: "x"}, entry{name: "b/y", typeflag: tar.TypeReg, data: "y"}), "not under the bundle's folder \"a\""},
		{"a symbolic link", hostileArchive(t, entry{name: "b/link", typeflag: tar.TypeSymlink, link: "/etc"}), "is a symbolic link"},
		{"a hard link", hostileArchive(t, entry{name: "b/link", typeflag: tar.TypeLink, link: "b/x"}), "is a hard link"},
		{"a device", hostileArchive(t, entry{name: "b/dev", typeflag: tar.TypeChar}), "is a device"},
		{"a file twice", hostileArchive(t, entry{name: "b/x", typeflag: tar.TypeReg, data: "1"}, entry{name: "b/x", typeflag: tar.TypeReg, data: "2"}), "file exists"},
		{"a file as the top folder", hostileArchive(t, entry{name: "b", typeflag: tar.TypeReg, data: "x"}), "a file where the folder should be"},
		{"a large file", hostileArchive(t, entry{name: "b/big", typeflag: tar.TypeReg, size: 2 << 10}), "more than 1024"},
		{"many files", hostileArchive(t,
			entry{name: "b/1", typeflag: tar.TypeReg}, entry{name: "b/2", typeflag: tar.TypeReg}, entry{name: "b/3", typeflag: tar.TypeReg},
			entry{name: "b/4", typeflag: tar.TypeReg}, entry{name: "b/5", typeflag: tar.TypeReg}, entry{name: "b/6", typeflag: tar.TypeReg}), "more than 5 entries"},
		{"much in all", hostileArchive(t,
			entry{name: "b/1", typeflag: tar.TypeReg, size: 1 << 10}, entry{name: "b/2", typeflag: tar.TypeReg, size: 1 << 10},
			entry{name: "b/3", typeflag: tar.TypeReg, size: 1 << 10}), "more than 2048 bytes in all"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "bundle")
			_, err := bundle.Extract(bytes.NewReader(c.archive), dir, small)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("extract: %v, want an error with %q", err, c.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("wrote beside the folder: %v", entries)
			}
		})
	}
	// A folder that holds something is not unpacked into.
	dir := t.TempDir()
	write(t, dir, "keep", []byte("x"))
	if _, err := bundle.Extract(bytes.NewReader(newFixture(t).archive(t)), dir, bundle.DefaultLimits); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("extract into a full folder: %v", err)
	}
}

// Create refuses names that would not mean the same on disk, and a file
// given twice.
func TestCreateRefusesBadNames(t *testing.T) {
	key, _ := signkey.Generate()
	for _, name := range []string{"../x", "/x", "a/./b", "a//b", "SHA256SUMS", "a\nb", ""} {
		if err := bundle.Create(&bytes.Buffer{}, "top", []bundle.File{{Name: name, Data: []byte("x")}}, key); err == nil {
			t.Errorf("created a bundle with a file named %q", name)
		}
	}
	if err := bundle.Create(&bytes.Buffer{}, "top", []bundle.File{{Name: "a", Data: []byte("1")}, {Name: "a", Data: []byte("2")}}, key); err == nil {
		t.Error("created a bundle with a file twice")
	}
	if err := bundle.Create(&bytes.Buffer{}, "a/b", nil, key); err == nil {
		t.Error("created a bundle with a nested top folder")
	}
}
