package sandbox

import (
	"bufio"
	"encoding/gob"
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
func serveTree(conn io.ReadWriteCloser, t *treeService) {
	defer conn.Close()
	out := bufio.NewWriter(conn)
	dec, enc := gob.NewDecoder(conn), gob.NewEncoder(out)
	for {
		var (
			req  rpc.Request
			args PathArgs
		)
		if dec.Decode(&req) != nil || dec.Decode(&args) != nil {
			return // closed, or not the protocol: the render fails on its side
		}
		resp := rpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		reply, err := t.call(req.ServiceMethod, args)
		if err != nil {
			resp.Error, reply = err.Error(), struct{}{}
		}
		if enc.Encode(&resp) != nil || enc.Encode(reply) != nil || out.Flush() != nil {
			return
		}
	}
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
