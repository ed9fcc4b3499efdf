package sandbox

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/rpc"
)

// serveTree answers a render process's calls of Tree.* on conn until either
// side closes it. It speaks net/rpc's gob protocol as an rpc.Server would
// (the render process calls it with an rpc.Client), without one: registering
// a receiver with rpc.Server looks its methods up by reflection, and one such
// lookup anywhere in a binary makes Go's linker keep every exported method of
// every type, a third of the controller's binary. Calls are answered in turn:
// a render reads one file at a time.
//
// It returns why it stopped serving: nil when the connection closed or
// failed (the process ended, or was killed), the bound a message broke
// (errProtocol), or errProtocol alone for anything else a decoder refused,
// whose words could quote what the process sent.
func serveTree(conn io.ReadWriteCloser, t *treeService) error {
	defer conn.Close()
	out := bufio.NewWriter(conn)
	wire := &readErr{r: conn}
	in := &frameLimit{r: bufio.NewReader(wire), max: maxTreeRequest}
	dec, enc := gob.NewDecoder(in), gob.NewEncoder(out)
	for {
		var (
			req  rpc.Request
			args PathArgs
		)
		err := dec.Decode(&req)
		if err == nil {
			err = dec.Decode(&args)
		}
		switch {
		case errors.Is(err, errProtocol):
			return err
		case err != nil && wire.err != nil:
			return nil // the connection ended: the render fails on its side, if it was not done
		case err != nil:
			return errProtocol // the bytes came, and were not the protocol
		}
		resp := rpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		reply, err := t.call(req.ServiceMethod, args)
		if err != nil {
			resp.Error, reply = err.Error(), struct{}{}
		}
		if enc.Encode(&resp) != nil || enc.Encode(reply) != nil || out.Flush() != nil {
			return nil
		}
	}
}

// readErr remembers the error of the connection itself, which tells a
// connection that ended from bytes that came and were not the protocol
// (gob says io.EOF for both, at times).
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// errProtocol is what a render process that broke the tree connection's
// protocol did.
var errProtocol = errors.New("a message that is not the protocol of file reads")

// maxTreeRequest bounds one message a render process sends on the tree
// connection: a call's header or its arguments (a path). The process is not
// trusted; a name of gigabytes would otherwise be read, decoded and echoed.
const maxTreeRequest = 64 << 10

// frameLimit passes gob's messages through, and fails at a message that
// says it is longer than max, before a decoder makes a buffer of that size.
type frameLimit struct {
	r     *bufio.Reader
	max   uint64
	left  uint64 // the current message's bytes not yet passed on, its length's included
	types int    // type definitions read
}

// maxTreeTypes bounds the type definitions of one tree connection: an
// rpc.Client sends two (rpc.Request, PathArgs).
const maxTreeTypes = 8

func (f *frameLimit) Read(p []byte) (int, error) {
	if f.left == 0 {
		n, size, err := peekUint(f.r, 0, 9)
		if err != nil {
			return 0, err
		}
		if n > f.max {
			return 0, fmt.Errorf("%w: a message over %d KiB", errProtocol, f.max>>10)
		}
		// A message that defines a type starts with a negative type id (an
		// odd uint: gob writes an int i as i<<1, or ^i<<1|1 when negative).
		// A client defines two types in a connection's life; a decoder
		// keeps every definition, so a stream of them would grow the
		// controller's memory without a message over the bound.
		if n > 0 {
			id, _, err := peekUint(f.r, size, int(n))
			if err != nil {
				return 0, err
			}
			if id&1 == 1 {
				if f.types++; f.types > maxTreeTypes {
					return 0, fmt.Errorf("%w: more than %d type definitions", errProtocol, maxTreeTypes)
				}
			}
		}
		f.left = uint64(size) + n
	}
	if uint64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= uint64(n)
	return n, err
}

// peekUint reads, without consuming them, the at most within bytes at off
// of what r holds next that encode a uint as gob does: a byte below 0x80, or
// the negated count of the big-endian bytes that follow. It peeks no
// further than the number's own bytes, so it never waits for a message the
// other side has not sent.
func peekUint(r *bufio.Reader, off, within int) (v uint64, size int, err error) {
	b, err := r.Peek(off + 1)
	if err != nil {
		return 0, 0, err
	}
	if b[off] < 0x80 {
		return uint64(b[off]), 1, nil
	}
	k := -int(int8(b[off]))
	if k < 1 || k > 8 || 1+k > within {
		return 0, 0, fmt.Errorf("%w: a number of %d bytes where %d are left", errProtocol, k, within-1)
	}
	if b, err = r.Peek(off + 1 + k); err != nil {
		return 0, 0, err
	}
	for _, c := range b[off+1:] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + k, nil
}

// call runs the Tree method named method ("Tree.ReadFile").
func (t *treeService) call(method string, a PathArgs) (reply any, err error) {
	switch method {
	case "Tree.Stat":
		r := &InfoReply{}
		return r, t.Stat(a, r)
	case "Tree.Lstat":
		r := &InfoReply{}
		return r, t.Lstat(a, r)
	case "Tree.ReadLink":
		r := &LinkReply{}
		return r, t.ReadLink(a, r)
	case "Tree.ReadDir":
		r := &DirReply{}
		return r, t.ReadDir(a, r)
	case "Tree.ReadFile":
		r := &FileReply{}
		return r, t.ReadFile(a, r)
	default:
		return nil, fmt.Errorf("rpc: can't find method %q", method)
	}
}
