package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/lockstep-dev/lockstep/internal/render"
)

// The controller and a render process talk net/rpc over two Unix socket
// pairs: on one the controller calls the process ("Sandbox.Render"), on the
// other the process reads the commit's tree from the controller ("Tree.*").
// These are the only things a render can reach.

// RenderArgs asks for one render. Options travel as JSON: Helm values are the
// maps of JSON values they were decoded into.
type RenderArgs struct {
	Dir     string
	Options []byte
}

// RenderReply is a render's result: objects as JSON, or the error.
type RenderReply struct {
	Renderer render.Renderer
	Objects  [][]byte
	Origins  []render.Origin
	Inputs   []string
	Err      *WireError
}

// Error kinds that survive the trip, so callers can still errors.Is them.
const (
	kindOther        = ""
	kindPathNotFound = "path-not-found"
	kindLimit        = "limit"
	kindOutputLimit  = "output-limit"
	kindNotExist     = "not-exist"
	kindInvalid      = "invalid"
	kindPermission   = "permission"
)

// WireError is an error as it crosses the process boundary: a render.Error's
// file and line, the message, and which sentinel it wrapped.
type WireError struct {
	File    string
	Line    int
	Message string
	Kind    string
}

func toWire(err error) *WireError {
	if err == nil {
		return nil
	}
	w := &WireError{Message: err.Error(), Kind: kindOf(err)}
	var re *render.Error
	if errors.As(err, &re) {
		w.File, w.Line, w.Message = re.File, re.Line, re.Err.Error()
	}
	return w
}

func kindOf(err error) string {
	switch {
	case errors.Is(err, render.ErrPathNotFound):
		return kindPathNotFound
	case errors.Is(err, ErrOutputLimit):
		return kindOutputLimit
	case errors.Is(err, render.ErrLimit):
		return kindLimit
	case errors.Is(err, fs.ErrNotExist):
		return kindNotExist
	case errors.Is(err, fs.ErrInvalid):
		return kindInvalid
	case errors.Is(err, fs.ErrPermission):
		return kindPermission
	}
	return kindOther
}

// fromWire rebuilds the error: a *render.Error when it named a file.
func (w *WireError) err() error {
	if w == nil {
		return nil
	}
	var inner error = &kindError{message: w.Message, kind: w.Kind}
	if w.File == "" && w.Line == 0 {
		return inner
	}
	return &render.Error{File: w.File, Line: w.Line, Err: inner}
}

// kindError is an error message from the other process that still matches
// the sentinel it wrapped there.
type kindError struct {
	message, kind string
}

func (e *kindError) Error() string { return e.message }

func (e *kindError) Unwrap() error {
	switch e.kind {
	case kindPathNotFound:
		return render.ErrPathNotFound
	case kindLimit:
		return render.ErrLimit
	case kindOutputLimit:
		return ErrOutputLimit
	case kindNotExist:
		return fs.ErrNotExist
	case kindInvalid:
		return fs.ErrInvalid
	case kindPermission:
		return fs.ErrPermission
	}
	return nil
}

// FileInfo is an fs.FileInfo as it crosses the boundary.
type FileInfo struct {
	FName    string
	FSize    int64
	FMode    fs.FileMode
	FModTime time.Time
}

func infoOf(fi fs.FileInfo) FileInfo {
	return FileInfo{FName: fi.Name(), FSize: fi.Size(), FMode: fi.Mode(), FModTime: fi.ModTime()}
}

func (f FileInfo) Name() string       { return f.FName }
func (f FileInfo) Size() int64        { return f.FSize }
func (f FileInfo) Mode() fs.FileMode  { return f.FMode }
func (f FileInfo) ModTime() time.Time { return f.FModTime }
func (f FileInfo) IsDir() bool        { return f.FMode.IsDir() }
func (f FileInfo) Sys() any           { return nil }

// FSError is the error of one tree operation, carried in its reply (an rpc
// error would lose fs.ErrNotExist).
type FSError struct {
	Op, Path, Message, Kind string
}

func toFSError(op, name string, err error) *FSError {
	if err == nil {
		return nil
	}
	return &FSError{Op: op, Path: name, Message: err.Error(), Kind: kindOf(err)}
}

func (e *FSError) err() error {
	if e == nil {
		return nil
	}
	return &fs.PathError{Op: e.Op, Path: e.Path, Err: &kindError{message: e.Message, kind: e.Kind}}
}

// Tree operation arguments and replies.
type (
	PathArgs  struct{ Name string }
	InfoReply struct {
		Info FileInfo
		Err  *FSError
	}
	DirReply struct {
		Entries []FileInfo
		Err     *FSError
	}
	FileReply struct {
		Data []byte
		Err  *FSError
	}
	LinkReply struct {
		Target string
		Err    *FSError
	}
)

// maxTreeRead bounds one file read through the tree, whatever the render's
// own limits say.
const maxTreeRead = 256 << 20

func errTooLarge(name string) error {
	return fmt.Errorf("%s: larger than %d bytes: %w", name, maxTreeRead, render.ErrLimit)
}
