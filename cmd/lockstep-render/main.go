// Command lockstep-render is the process Lockstep renders in: lockstep (the
// controller, `lockstep build`, `lockstep diff`) starts it in a sandbox (no
// network, no files but the commit's, a memory budget) and asks it over a
// socket to render a folder with Helm, Kustomize, Jsonnet or plain YAML. It
// is not run by hand; install it beside lockstep.
package main

import (
	"fmt"
	"os"

	// Takes the process over before main when lockstep started it.
	_ "github.com/lockstep-dev/lockstep/internal/render/renderer"
	"github.com/lockstep-dev/lockstep/internal/version"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Println("lockstep-render", version.Version)
		return
	}
	fmt.Fprintln(os.Stderr, "lockstep-render renders in a sandbox for lockstep, which starts it; it is not run by hand. Install it beside lockstep (make build builds both).")
	os.Exit(2)
}
