package cli

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

// addRenderFlags adds the flags that size render sandboxes, o's values
// their defaults, to f.
func addRenderFlags(f *pflag.FlagSet, o *sandbox.Options) {
	f.IntVar(&o.Processes, "render-processes", o.Processes, "renders run at once, each in its own sandbox process (no network, no files but the commit's)")
	f.Var(newBytesValue(&o.Memory), "render-memory", "memory budget of each render process, e.g. 512Mi or 1Gi: a render over it fails naming the limit")
	f.DurationVar(&o.Timeout, "render-timeout", o.Timeout, "time limit of one render: a render over it fails naming the limit")
	f.StringVar(&o.Executable, "render-binary", "", "the lockstep-render program renders run in (default: the one beside this program; never one found on the PATH)")
	f.BoolVar(&o.Unconfined, "unsafe-unconfined-renders", false, "render without the sandbox's seccomp filter and memory limit (on a machine without seccomp, such as macOS): a repository could make renders fetch URLs, read this machine's files and exhaust its memory; never for a controller")
	// The flag's old name: renders no longer run in this process, but
	// unconfined is what it was for.
	f.BoolVar(&o.Unconfined, "unsafe-render-in-process", false, "")
	_ = f.MarkDeprecated("unsafe-render-in-process", "use --unsafe-unconfined-renders: renders run in lockstep-render processes, unconfined with that flag")
}

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
