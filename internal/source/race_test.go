package source_test

import (
	"fmt"
	"io/fs"
	"sync"
	"testing"
)

// Renders read a snapshot's files lazily from the repository's object storage
// while another fetch of the same URL adds a pack to it: without the storage's
// lock, a concurrent map read and write aborts the whole process. `make test`
// runs this under the race detector.
func TestRendersReadWhileAFetchWrites(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{}
	for i := range 30 {
		files[fmt.Sprintf("app/f%02d.yaml", i)] = fmt.Sprintf("a: %d\n", i)
	}
	f.commit(t, files, "first")
	snap := f.fetch(t, f.req, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	reads := 0
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := fs.WalkDir(snap.Files, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					_, err = fs.ReadFile(snap.Files, p)
				}
				return err
			})
			if err != nil {
				t.Errorf("reading the snapshot during a fetch: %v", err)
				return
			}
			mu.Lock()
			reads++
			mu.Unlock()
		}
	}()
	for i := range 15 {
		files["app/f00.yaml"] = fmt.Sprintf("a: changed %d\n", i)
		f.commit(t, files, fmt.Sprintf("change %d", i))
		f.fetch(t, f.req, 0)
	}
	close(stop)
	wg.Wait()
	if reads == 0 {
		t.Error("no read of the snapshot completed while fetching")
	}
}
