package source_test

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// Whoever can write the data volume cannot swap a file under a signed commit:
// an object of the repository cache whose content does not hash to its name
// is refused (go-git would read a loose object planted there before the pack).
func TestAnAlteredCacheObjectIsRefused(t *testing.T) {
	f := newFixture(t)
	const content = "a: 1\n"
	f.commit(t, map[string]string{"app/a.yaml": content}, "first")
	dir := t.TempDir()
	c := source.NewCache(dir)
	if _, err := c.Fetch(t.Context(), f.req, source.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Rewrite the cache as loose objects (what go-git reads without checking),
	// with the file's blob holding other content under the same name.
	blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(content))
	sum := sha256.Sum256([]byte(f.req.URL))
	repoDir := filepath.Join(dir, hex.EncodeToString(sum[:12]))
	tampered := filepath.Join(t.TempDir(), hex.EncodeToString(sum[:12]))
	from := filesystem.NewStorage(osfs.New(repoDir), cache.NewObjectLRUDefault())
	to := filesystem.NewStorage(osfs.New(tampered), cache.NewObjectLRUDefault())
	objs, err := from.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.ForEach(func(o plumbing.EncodedObject) error {
		if o.Hash() == blob {
			return nil
		}
		_, err := to.SetEncodedObject(o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config", "HEAD", "refs/heads/main"} {
		data, err := os.ReadFile(filepath.Join(repoDir, name))
		if err != nil {
			continue
		}
		_ = os.MkdirAll(filepath.Dir(filepath.Join(tampered, name)), 0o700)
		if err := os.WriteFile(filepath.Join(tampered, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	evil := "a: 666\n"
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	fmt.Fprintf(w, "blob %d\x00%s", len(evil), evil)
	w.Close()
	loose := filepath.Join(tampered, "objects", blob.String()[:2], blob.String()[2:])
	if err := os.MkdirAll(filepath.Dir(loose), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loose, z.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c = source.NewCache(filepath.Dir(tampered))
	snap, err := c.Fetch(t.Context(), f.req, source.FetchOptions{MaxAge: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	data, err := fs.ReadFile(snap.Files, "app/a.yaml")
	if !errors.Is(err, source.ErrAlteredCache) {
		t.Errorf("reading a file whose blob was swapped: got %q, %v; want ErrAlteredCache", data, err)
	}
}
