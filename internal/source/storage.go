package source

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// lockedStorage lets renders read a repository's objects while a fetch of the
// same repository adds a pack: go-git's filesystem storage keeps its pack
// indexes in a map that a finished pack is added to, and a read of that map
// while it is written aborts the whole process. Reads take a shared lock; the
// moments that change the map (opening a pack writer, closing it when the pack
// is complete) take the exclusive one. The network I/O of a fetch holds
// neither, so a render of an already fetched revision never waits for it.
type lockedStorage struct {
	*filesystem.Storage
	mu sync.RWMutex

	budget atomic.Pointer[fetchBudget] // the fetch in progress's; nil: unbounded

	// sizes remembers objects' sizes by hash (a name is its content, so a
	// size never changes): go-git opens the pack file again for every size
	// asked, and a render asks for each file's, once per listing and once
	// per look. Its own lock: reads hold mu only shared.
	sizesMu sync.Mutex
	sizes   map[plumbing.Hash]int64
}

// maxSizes bounds the sizes a repository's storage remembers (about 40
// bytes each); past it, it starts over.
const maxSizes = 8192

// setBudget bounds the packs of the next fetch (nil: unbounded). Called
// holding the repository's fetch slot.
func (l *lockedStorage) setBudget(b *fetchBudget) { l.budget.Store(b) }

func newLockedStorage(s *filesystem.Storage) *lockedStorage {
	l := &lockedStorage{Storage: s, sizes: map[plumbing.Hash]int64{}}
	// The first read loads the pack indexes into the map: do it now, alone.
	l.mu.Lock()
	_ = s.HasEncodedObject(plumbing.ZeroHash)
	l.mu.Unlock()
	return l
}

// EncodedObject reads an object and checks that its content hashes to its
// name: go-git trusts the cache's packs and loose objects, and whoever can
// write the data volume could otherwise swap a file under a signed commit.
func (l *lockedStorage) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	obj, err := l.Storage.EncodedObject(t, h)
	if err != nil {
		return nil, err
	}
	checked, err := verified(obj, h)
	if err != nil {
		return nil, err
	}
	if checked.Type() == plumbing.BlobObject { // sizes are asked of files only; history walks read thousands of commits
		l.rememberSize(h, checked.Size()) // a checked size over one the pack's header claimed
	}
	return checked, nil
}

// ErrAlteredCache is returned for an object of the repository cache whose
// content does not hash to its name.
var ErrAlteredCache = errors.New("the repository cache was altered: an object's content does not match its hash; delete the controller's repositories folder (it is fetched again)")

// maxObjectSize bounds an object read from the cache: it is read whole to be
// checked, and no file a render reads comes near it.
const maxObjectSize = 64 << 20

// verified reads the object whole, checks its hash, and returns that copy:
// the bytes checked are the bytes used (a pack object read again would be
// read from the disk again).
func verified(obj plumbing.EncodedObject, want plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj.Size() > maxObjectSize {
		return nil, fmt.Errorf("object %s is %d bytes, larger than the %d MiB the controller reads", want, obj.Size(), maxObjectSize>>20)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	content, err := io.ReadAll(io.LimitReader(r, maxObjectSize+1))
	if err != nil {
		return nil, err
	}
	if plumbing.ComputeHash(obj.Type(), content) != want {
		return nil, fmt.Errorf("%w (%s)", ErrAlteredCache, want)
	}
	m := &plumbing.MemoryObject{}
	m.SetType(obj.Type())
	if _, err := m.Write(content); err != nil {
		return nil, err
	}
	return m, nil
}

func (l *lockedStorage) DeltaObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.Storage.DeltaObject(t, h)
}

func (l *lockedStorage) HasEncodedObject(h plumbing.Hash) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.Storage.HasEncodedObject(h)
}

func (l *lockedStorage) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	l.sizesMu.Lock()
	size, known := l.sizes[h]
	l.sizesMu.Unlock()
	if known {
		return size, nil
	}
	l.mu.RLock()
	size, err := l.Storage.EncodedObjectSize(h)
	l.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	l.rememberSize(h, size)
	return size, nil
}

func (l *lockedStorage) rememberSize(h plumbing.Hash, size int64) {
	l.sizesMu.Lock()
	defer l.sizesMu.Unlock()
	if len(l.sizes) >= maxSizes {
		clear(l.sizes)
	}
	l.sizes[h] = size
}

func (l *lockedStorage) IterEncodedObjects(t plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.Storage.IterEncodedObjects(t)
}

func (l *lockedStorage) HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.Storage.HashesWithPrefix(prefix)
}

func (l *lockedStorage) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Storage.SetEncodedObject(o)
}

// PackfileWriter implements storer.PackfileWriter: the pack is received
// without the lock; its index joins the map under it.
func (l *lockedStorage) PackfileWriter() (io.WriteCloser, error) {
	l.mu.Lock()
	w, err := l.Storage.PackfileWriter()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &lockedPackWriter{WriteCloser: &budgetWriter{WriteCloser: w, budget: l.budget.Load()}, l: l}, nil
}

type lockedPackWriter struct {
	io.WriteCloser
	l *lockedStorage
}

func (w *lockedPackWriter) Close() error {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.WriteCloser.Close()
}
