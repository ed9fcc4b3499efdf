package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// A size is read from the store once: the second answer comes from memory
// (the object is gone from the disk by then), and the memory stays bounded.
func TestObjectSizesAreReadOnce(t *testing.T) {
	dir := t.TempDir()
	l := newLockedStorage(filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault()))
	blob := &plumbing.MemoryObject{}
	blob.SetType(plumbing.BlobObject)
	if _, err := blob.Write([]byte("replicas: 3\n")); err != nil {
		t.Fatal(err)
	}
	h, err := l.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	if size, err := l.EncodedObjectSize(h); err != nil || size != 12 {
		t.Fatalf("size %d, %v; want 12", size, err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	if size, err := l.EncodedObjectSize(h); err != nil || size != 12 {
		t.Fatalf("size read again: %d, %v; want 12 from memory", size, err)
	}
	if _, err := l.EncodedObjectSize(plumbing.ComputeHash(plumbing.BlobObject, []byte("absent"))); err == nil {
		t.Fatal("an object that is not there has a size")
	}
	for i := range maxSizes {
		l.sizes[plumbing.Hash{byte(i), byte(i >> 8), 1}] = int64(i)
	}
	blob2 := &plumbing.MemoryObject{}
	blob2.SetType(plumbing.BlobObject)
	_, _ = blob2.Write([]byte("x"))
	h2, err := l.SetEncodedObject(blob2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.EncodedObjectSize(h2); err != nil {
		t.Fatal(err)
	}
	if len(l.sizes) > maxSizes {
		t.Fatalf("%d sizes remembered, more than %d", len(l.sizes), maxSizes)
	}
}
