package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/rpc"
	"path"
	"sync"
)

// treeService answers a render process's reads of the commit's tree. It
// serves one render at a time: the worker sets fsys before each.
type treeService struct {
	mu   sync.Mutex
	fsys fs.FS // nil between renders: nothing to read
}

func (t *treeService) set(fsys fs.FS) {
	t.mu.Lock()
	t.fsys = fsys
	t.mu.Unlock()
}

func (t *treeService) tree(op, name string) (fs.FS, *FSError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fsys == nil {
		return nil, toFSError(op, name, fs.ErrClosed)
	}
	if !fs.ValidPath(name) {
		return nil, toFSError(op, name, fs.ErrInvalid)
	}
	return t.fsys, nil
}

func (t *treeService) Stat(a PathArgs, r *InfoReply) error { return t.info("stat", fs.Stat, a, r) }

func (t *treeService) Lstat(a PathArgs, r *InfoReply) error { return t.info("lstat", fs.Lstat, a, r) }

// info answers Stat and Lstat.
func (t *treeService) info(op string, stat func(fs.FS, string) (fs.FileInfo, error), a PathArgs, r *InfoReply) error {
	fsys, ferr := t.tree(op, a.Name)
	if ferr != nil {
		r.Err = ferr
		return nil
	}
	fi, err := stat(fsys, a.Name)
	if err != nil {
		r.Err = toFSError(op, a.Name, err)
		return nil
	}
	r.Info = infoOf(fi)
	return nil
}

func (t *treeService) ReadLink(a PathArgs, r *LinkReply) error {
	fsys, ferr := t.tree("readlink", a.Name)
	if ferr != nil {
		r.Err = ferr
		return nil
	}
	target, err := fs.ReadLink(fsys, a.Name)
	r.Target, r.Err = target, toFSError("readlink", a.Name, err)
	return nil
}

func (t *treeService) ReadDir(a PathArgs, r *DirReply) error {
	fsys, ferr := t.tree("readdir", a.Name)
	if ferr != nil {
		r.Err = ferr
		return nil
	}
	entries, err := fs.ReadDir(fsys, a.Name)
	if err != nil {
		r.Err = toFSError("readdir", a.Name, err)
		return nil
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			r.Err = toFSError("readdir", path.Join(a.Name, e.Name()), err)
			return nil
		}
		r.Entries = append(r.Entries, infoOf(fi))
	}
	return nil
}

func (t *treeService) ReadFile(a PathArgs, r *FileReply) error {
	fsys, ferr := t.tree("read", a.Name)
	if ferr != nil {
		r.Err = ferr
		return nil
	}
	f, err := fsys.Open(a.Name)
	if err != nil {
		r.Err = toFSError("read", a.Name, err)
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTreeRead+1))
	if err == nil && len(data) > maxTreeRead {
		err = errTooLarge(a.Name)
	}
	r.Data, r.Err = data, toFSError("read", a.Name, err)
	return nil
}

// remoteFS is the tree as a render process sees it: every read is a call to
// the controller, which reads the verified commit. It is the only file system
// a render has.
type remoteFS struct {
	c *rpc.Client
}

var (
	_ fs.StatFS     = remoteFS{}
	_ fs.ReadDirFS  = remoteFS{}
	_ fs.ReadFileFS = remoteFS{}
	_ fs.ReadLinkFS = remoteFS{}
)

// maxTreeName bounds a name a render asks the controller about, well under
// the 64 KiB the controller reads of one message (maxTreeRequest): a longer
// one fails here, as a file that cannot be read, instead of ending the
// process for breaking the protocol.
const maxTreeName = 32 << 10

// call calls method about name, refusing a name over maxTreeName.
func (r remoteFS) call(method, op, name string, reply any) error {
	if len(name) > maxTreeName {
		return &fs.PathError{Op: op, Path: name[:64] + "...", Err: fmt.Errorf("a name of %d bytes, over the %d KiB a render may ask about", len(name), maxTreeName>>10)}
	}
	if err := r.c.Call(method, PathArgs{name}, reply); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (r remoteFS) Stat(name string) (fs.FileInfo, error) {
	var reply InfoReply
	if err := r.call("Tree.Stat", "stat", name, &reply); err != nil {
		return nil, err
	}
	if reply.Err != nil {
		return nil, reply.Err.err()
	}
	return reply.Info, nil
}

func (r remoteFS) Lstat(name string) (fs.FileInfo, error) {
	var reply InfoReply
	if err := r.call("Tree.Lstat", "lstat", name, &reply); err != nil {
		return nil, err
	}
	if reply.Err != nil {
		return nil, reply.Err.err()
	}
	return reply.Info, nil
}

func (r remoteFS) ReadLink(name string) (string, error) {
	var reply LinkReply
	if err := r.call("Tree.ReadLink", "readlink", name, &reply); err != nil {
		return "", err
	}
	return reply.Target, reply.Err.err()
}

func (r remoteFS) ReadDir(name string) ([]fs.DirEntry, error) {
	var reply DirReply
	if err := r.call("Tree.ReadDir", "readdir", name, &reply); err != nil {
		return nil, err
	}
	if reply.Err != nil {
		return nil, reply.Err.err()
	}
	entries := make([]fs.DirEntry, len(reply.Entries))
	for i, fi := range reply.Entries {
		entries[i] = fs.FileInfoToDirEntry(fi)
	}
	return entries, nil
}

func (r remoteFS) ReadFile(name string) ([]byte, error) {
	var reply FileReply
	if err := r.call("Tree.ReadFile", "read", name, &reply); err != nil {
		return nil, err
	}
	if reply.Err != nil {
		return nil, reply.Err.err()
	}
	return reply.Data, nil
}

// Open returns a file whose content is read on first use.
func (r remoteFS) Open(name string) (fs.File, error) {
	fi, err := r.Stat(name)
	if err != nil {
		return nil, err
	}
	return &remoteFile{fsys: r, name: name, info: fi}, nil
}

type remoteFile struct {
	fsys    remoteFS
	name    string
	info    fs.FileInfo
	content *bytes.Reader
	dir     []fs.DirEntry
	dirRead bool
}

func (f *remoteFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *remoteFile) Close() error               { return nil }

func (f *remoteFile) Read(p []byte) (int, error) {
	if f.info.IsDir() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if f.content == nil {
		data, err := f.fsys.ReadFile(f.name)
		if err != nil {
			return 0, err
		}
		f.content = bytes.NewReader(data)
	}
	return f.content.Read(p)
}

// ReadDir makes a folder's file an fs.ReadDirFile, as fs.WalkDir needs.
func (f *remoteFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.info.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: fs.ErrInvalid}
	}
	if !f.dirRead {
		entries, err := f.fsys.ReadDir(f.name)
		if err != nil {
			return nil, err
		}
		f.dir, f.dirRead = entries, true
	}
	if n <= 0 {
		entries := f.dir
		f.dir = nil
		return entries, nil
	}
	if len(f.dir) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(f.dir))
	entries := f.dir[:n]
	f.dir = f.dir[n:]
	return entries, nil
}
