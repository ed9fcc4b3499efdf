package source

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeFS is a read-only fs.FS over a commit's tree, read straight from the object
// store: nothing is checked out on disk, so a repository cannot plant files or
// symbolic links that reach outside it. Symbolic links appear as such
// (fs.ModeSymlink) and are never followed; submodules appear as empty folders.
type treeFS struct {
	root  *object.Tree
	mtime time.Time // the commit time, reported for every entry

	// mu serializes lookups: go-git's trees fill caches of their own as
	// they are read.
	mu sync.Mutex
	// dirs holds the folders' trees decoded so far, by path. go-git decodes
	// every folder on a path at each lookup below the root, and a render
	// looks up the same folder once per file and again per file's size.
	dirs map[string]*object.Tree
}

// maxTreeDirs bounds the folders a treeFS keeps decoded; a render reads a
// few, a walk of a whole monorepo starts over now and then.
const maxTreeDirs = 256

func newTreeFS(root *object.Tree, mtime time.Time) fs.FS {
	return &treeFS{root: root, mtime: mtime, dirs: map[string]*object.Tree{}}
}

// dir returns the tree of the folder name ("." is the root); t.mu is held.
func (t *treeFS) dir(name string) (*object.Tree, error) {
	if name == "." {
		return t.root, nil
	}
	if tree, ok := t.dirs[name]; ok {
		return tree, nil
	}
	parent, err := t.dir(path.Dir(name))
	if err != nil {
		return nil, err
	}
	tree, err := parent.Tree(path.Base(name))
	if err != nil {
		return nil, err
	}
	if len(t.dirs) >= maxTreeDirs {
		clear(t.dirs)
	}
	t.dirs[name] = tree
	return tree, nil
}

// lookup finds name (not ".") in its folder's tree; t.mu is held.
func (t *treeFS) lookup(name string) (*object.Tree, *object.TreeEntry, error) {
	parent, err := t.dir(path.Dir(name))
	if err != nil {
		return nil, nil, err
	}
	entry, err := parent.FindEntry(path.Base(name))
	if err != nil {
		return nil, nil, err
	}
	return parent, entry, nil
}

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &treeDir{info: t.dirInfo("."), tree: t.root, fsys: t}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	parent, entry, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	info := t.entryInfo(parent, entry.Name, entry)
	switch {
	case entry.Mode == filemode.Dir:
		sub, err := t.dir(name)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{info: info, tree: sub, fsys: t}, nil
	case entry.Mode == filemode.Submodule:
		return &treeDir{info: info, fsys: t}, nil
	default: // regular, executable or symlink: the blob (a link's blob is its target)
		f, err := parent.TreeEntryFile(entry)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		rc, err := f.Reader()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeFile{info: info, rc: rc}, nil
	}
}

// Lstat describes name without following a symbolic link; Stat does the same,
// since links are never followed.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) { return t.Stat(name) }

// ReadLink is refused: nothing in Lockstep follows links.
func (t *treeFS) ReadLink(name string) (string, error) {
	return "", &fs.PathError{Op: "readlink", Path: name, Err: errors.ErrUnsupported}
}

func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return t.dirInfo("."), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	parent, entry, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return t.entryInfo(parent, entry.Name, entry), nil
}

func (t *treeFS) dirInfo(name string) entryInfo {
	return entryInfo{name: path.Base(name), mode: fs.ModeDir | 0o555, mtime: t.mtime}
}

// entryInfo describes e, found at relPath (slash-separated) below tree.
func (t *treeFS) entryInfo(tree *object.Tree, relPath string, e *object.TreeEntry) entryInfo {
	info := entryInfo{name: e.Name, mtime: t.mtime}
	switch e.Mode {
	case filemode.Dir, filemode.Submodule:
		info.mode = fs.ModeDir | 0o555
	case filemode.Symlink:
		info.mode = fs.ModeSymlink | 0o777
	case filemode.Executable:
		info.mode = 0o555
	default:
		info.mode = 0o444
	}
	if info.mode.IsRegular() || info.mode&fs.ModeSymlink != 0 {
		if size, err := tree.Size(relPath); err == nil {
			info.size = size
		}
	}
	return info
}

type entryInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i entryInfo) Name() string               { return i.name }
func (i entryInfo) Size() int64                { return i.size }
func (i entryInfo) Mode() fs.FileMode          { return i.mode }
func (i entryInfo) ModTime() time.Time         { return i.mtime }
func (i entryInfo) IsDir() bool                { return i.mode.IsDir() }
func (i entryInfo) Sys() any                   { return nil }
func (i entryInfo) Type() fs.FileMode          { return i.mode.Type() }
func (i entryInfo) Info() (fs.FileInfo, error) { return i, nil }

type treeFile struct {
	info entryInfo
	rc   io.ReadCloser
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) { return f.rc.Read(p) }
func (f *treeFile) Close() error               { return f.rc.Close() }

type treeDir struct {
	info entryInfo
	tree *object.Tree // nil for a submodule
	fsys *treeFS
	read int // entries returned so far by ReadDir
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	var all []fs.DirEntry
	if d.tree != nil {
		d.fsys.mu.Lock()
		defer d.fsys.mu.Unlock()
		for i := range d.tree.Entries {
			e := &d.tree.Entries[i]
			all = append(all, d.fsys.entryInfo(d.tree, e.Name, e))
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name() < all[j].Name() })
	rest := all[d.read:]
	if n <= 0 {
		d.read = len(all)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.read += n
	return rest[:n], nil
}
