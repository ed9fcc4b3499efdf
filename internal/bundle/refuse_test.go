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
		{"a changed render binary", func(dir string) { appendTo(t, dir, bundle.RenderBinary, "x") }, nil, "lockstep-render does not match its checksum"},
		{"a binary that is not the image's, signed", func(dir string) {
			write(t, dir, bundle.Binary, []byte("\x7fELF another lockstep"))
			resign(t, dir, f.key)
		}, nil, "lockstep is not the image's /lockstep"},
		{"a render binary that is not the image's, signed", func(dir string) {
			write(t, dir, bundle.RenderBinary, []byte("\x7fELF another lockstep-render"))
			resign(t, dir, f.key)
		}, nil, "the bundle's lockstep-render is not the image's /lockstep-render"},
		{"the binaries swapped, signed", func(dir string) {
			bin, _ := os.ReadFile(filepath.Join(dir, bundle.Binary))
			render, _ := os.ReadFile(filepath.Join(dir, bundle.RenderBinary))
			write(t, dir, bundle.Binary, render)
			write(t, dir, bundle.RenderBinary, bin)
			resign(t, dir, f.key)
		}, nil, "is not the image's /lockstep"},
		{"no render binary, signed", func(dir string) {
			os.Remove(filepath.Join(dir, bundle.RenderBinary))
			resign(t, dir, f.key)
		}, nil, "the bundle has no lockstep-render"},
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
			dir := unpack(t, archive, public(f.key))
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

// signedList is a bundle's beginning: SHA256SUMS listing files (name →
// content) and its signature by key, under the folder b.
func signedList(key ed25519.PrivateKey, files map[string]string) []entry {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var sums bytes.Buffer
	for _, n := range names {
		sum := sha256.Sum256([]byte(files[n]))
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return []entry{
		{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, data: sums.String()},
		{name: "b/" + bundle.ChecksumsSig, typeflag: tar.TypeReg, data: string(ed25519.Sign(key, sums.Bytes()))},
	}
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
// file, something the signed list does not hold, or fill the disk are
// refused while unpacking, with why. Nothing but the signed list is written
// before its signature is checked, and nothing outside the folder ever.
func TestHostileArchivesAreRefused(t *testing.T) {
	key, _ := signkey.Generate()
	other, _ := signkey.Generate()
	small := bundle.Limits{Files: 8, FileBytes: 1 << 10, Bytes: 4 << 10}
	list := signedList(key, map[string]string{"x": "x", "big": strings.Repeat("\x00", 2<<10)})
	with := func(entries ...entry) []byte {
		return hostileArchive(t, append(append([]entry{}, list...), entries...)...)
	}
	x := entry{name: "b/x", typeflag: tar.TypeReg, data: "x"}
	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not gzip", []byte("PK\x03\x04 a zip"), "not a bundle"},
		{"cut short", with(x)[:60], "reading the bundle"},
		{"empty", hostileArchive(t), "the bundle is empty"},
		{"no signed list first", hostileArchive(t, x), "not a Lockstep bundle: it does not begin with SHA256SUMS"},
		{"no signed list at all", hostileArchive(t, entry{name: "b/", typeflag: tar.TypeDir}), "not a Lockstep bundle"},
		{"a list signed by another key", hostileArchive(t, append(signedList(other, map[string]string{"x": "x"}), x)...), "not signed by the trusted key"},
		{"a file not listed", with(x, entry{name: "b/run.sh", typeflag: tar.TypeReg, data: "rm -rf /"}), "run.sh is not listed in SHA256SUMS"},
		{"a file not as listed", with(entry{name: "b/x", typeflag: tar.TypeReg, data: "y"}), "x does not match its checksum"},
		{"a listed file missing", with(x), "lacks files SHA256SUMS lists: big"},
		{"a name with ..", with(entry{name: "b/../../escape", typeflag: tar.TypeReg, data: "x"}), "not a clean relative name"},
		{"an absolute name", hostileArchive(t, entry{name: "/etc/cron.d/x", typeflag: tar.TypeReg, data: "x"}), "not a clean relative name"},
		{"two top folders", with(entry{name: "a/x", typeflag: tar.TypeReg, data: "x"}), "not under the bundle's folder \"b\""},
		{"a symbolic link", with(entry{name: "b/x", typeflag: tar.TypeSymlink, link: "/etc"}), "is a symbolic link"},
		{"a hard link", with(entry{name: "b/x", typeflag: tar.TypeLink, link: "b/x"}), "is a hard link"},
		{"a device", with(entry{name: "b/dev", typeflag: tar.TypeChar}), "is a device"},
		{"a file twice", with(x, x), "in the archive twice"},
		{"a file as the top folder", hostileArchive(t, entry{name: "b", typeflag: tar.TypeReg, data: "x"}), "a file where the folder should be"},
		{"a large file, even listed", with(x, entry{name: "b/big", typeflag: tar.TypeReg, size: 2 << 10}), "more than 1024"},
		{"many entries", with(entry{name: "b/1/", typeflag: tar.TypeDir}, entry{name: "b/2/", typeflag: tar.TypeDir}, entry{name: "b/3/", typeflag: tar.TypeDir},
			entry{name: "b/4/", typeflag: tar.TypeDir}, entry{name: "b/5/", typeflag: tar.TypeDir}, entry{name: "b/6/", typeflag: tar.TypeDir}, entry{name: "b/7/", typeflag: tar.TypeDir}), "more than 8 entries"},
		{"a large list", hostileArchive(t, entry{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, size: 1 << 10}, entry{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, size: 1 << 10},
			entry{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, size: 1 << 10}, entry{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, size: 1 << 10},
			entry{name: "b/" + bundle.Checksums, typeflag: tar.TypeReg, size: 1 << 10}), "not a Lockstep bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "bundle")
			_, err := bundle.Extract(bytes.NewReader(c.archive), dir, public(key), small)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("extract: %v, want an error with %q", err, c.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("wrote beside the folder: %v", entries)
			}
			// Before the list's signature holds, nothing is written.
			if strings.Contains(c.want, "not a Lockstep bundle") || strings.Contains(c.want, "not signed") {
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("wrote %v before the signature was checked", entries)
				}
			}
		})
	}
	// A folder that holds something is not unpacked into.
	dir := t.TempDir()
	write(t, dir, "keep", []byte("x"))
	f := newFixture(t)
	if _, err := bundle.Extract(bytes.NewReader(f.archive(t)), dir, public(f.key), bundle.DefaultLimits); err == nil || !strings.Contains(err.Error(), "not empty") {
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

// Folder entries make no folder: only the listed files' parents are made,
// so an archive of many folders costs nothing on disk.
func TestFolderEntriesMakeNoFolders(t *testing.T) {
	key, _ := signkey.Generate()
	archive := hostileArchive(t, append(signedList(key, map[string]string{"sub/x": "x"}),
		entry{name: "b/junk/", typeflag: tar.TypeDir}, entry{name: "b/junk/a/b/c/", typeflag: tar.TypeDir},
		entry{name: "b/sub/x", typeflag: tar.TypeReg, data: "x"})...)
	dir := filepath.Join(t.TempDir(), "bundle")
	if _, err := bundle.Extract(bytes.NewReader(archive), dir, public(key), bundle.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); !os.IsNotExist(err) {
		t.Errorf("an unlisted folder was made: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "sub", "x")); err != nil || string(data) != "x" {
		t.Errorf("the listed file: %q, %v", data, err)
	}
}
