// Command prepare builds the Gitea that tests run (see package gitea) into
// the cache, once per machine, and prints the binary's path. `make gitea`
// runs it, and so `make test` before the tests start: a cold build takes
// about five minutes, better spent before the test binaries compete for the
// cores than inside one of them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitea"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := gitea.Ensure(ctx, gitea.BuildOptions{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(b.Binary())
}
