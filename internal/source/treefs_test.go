package source_test

import (
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
)

// A snapshot of more folders than it keeps decoded at once reads every file
// as it is, nested and side by side, however often its folders are dropped.
func TestSnapshotOfManyFoldersReadsEveryFile(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{}
	var names []string
	for i := range 300 {
		for _, name := range []string{fmt.Sprintf("apps/app-%03d/deploy.yaml", i), fmt.Sprintf("apps/app-%03d/base/cm.yaml", i)} {
			files[name] = name + "\n"
			names = append(names, name)
		}
	}
	f.commit(t, files, "Three hundred Applications")
	snap := f.fetch(t, f.req, 0)
	for range 2 { // the second pass reads folders dropped in the first
		for _, name := range names {
			data, err := fs.ReadFile(snap.Files, name)
			if err != nil || string(data) != name+"\n" {
				t.Fatalf("%s: %q, %v", name, data, err)
			}
			if fi, err := fs.Stat(snap.Files, name); err != nil || fi.Size() != int64(len(name)+1) || !fi.Mode().IsRegular() {
				t.Fatalf("stat %s: %v, %v", name, fi, err)
			}
		}
	}
	if _, err := fs.Stat(snap.Files, "apps/app-001/deploy.yaml/x"); err == nil {
		t.Error("a path through a file was found")
	}
	if err := fstest.TestFS(snap.Files, names[:20]...); err != nil {
		t.Error(err)
	}
}
