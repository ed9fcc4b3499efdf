package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func defaultRenderOptions() *sandbox.Options {
	o := sandbox.DefaultOptions()
	return &o
}

// addRenderFlags adds the flags that size render sandboxes to f; opts is set
// to nil (render in this process) when --unsafe-render-in-process is given.
func addRenderFlags(f *pflag.FlagSet, opts **sandbox.Options) {
	o := *opts
	if o == nil {
		o = defaultRenderOptions()
		*opts = o
	}
	f.IntVar(&o.Processes, "render-processes", o.Processes, "renders run at once, each in its own sandbox process (no network, no files but the commit's)")
	f.Var(newBytesValue(&o.Memory), "render-memory", "memory budget of each render process, e.g. 512Mi or 1Gi: a render over it fails naming the limit")
	f.DurationVar(&o.Timeout, "render-timeout", o.Timeout, "time limit of one render: a render over it fails naming the limit")
	f.Var(&inProcessFlag{opts: opts, sandboxed: o}, "unsafe-render-in-process", "render in this process, unconfined: a repository could make the controller fetch URLs, read its files and exhaust its memory; for debugging only")
	f.Lookup("unsafe-render-in-process").NoOptDefVal = "true"
}

// inProcessFlag is a bool flag that sets *opts to nil when true.
type inProcessFlag struct {
	opts      **sandbox.Options
	sandboxed *sandbox.Options
}

func (f *inProcessFlag) String() string {
	if f.opts != nil && *f.opts == nil {
		return "true"
	}
	return "false"
}

func (f *inProcessFlag) Set(v string) error {
	switch v {
	case "true":
		*f.opts = nil
	case "false":
		*f.opts = f.sandboxed
	default:
		return errInvalidBool
	}
	return nil
}

func (f *inProcessFlag) Type() string { return "bool" }

var errInvalidBool = errors.New("want true or false")

// bytesValue is a flag of a number of bytes written as a Kubernetes
// quantity: 512Mi, 1Gi, 1073741824.
type bytesValue struct{ n *int64 }

func newBytesValue(n *int64) *bytesValue { return &bytesValue{n: n} }

func (b *bytesValue) String() string {
	if b.n == nil {
		return "0"
	}
	return resource.NewQuantity(*b.n, resource.BinarySI).String()
}

func (b *bytesValue) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("want a size such as 512Mi or 1Gi: %w", err)
	}
	n, ok := q.AsInt64()
	if !ok || n < 64<<20 {
		return fmt.Errorf("%s: want at least 64Mi", v)
	}
	*b.n = n
	return nil
}

func (b *bytesValue) Type() string { return "size" }
