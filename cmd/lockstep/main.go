// Command lockstep is the Lockstep GitOps engine: controller, CLI and local
// development environment in one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// Promotion windows name IANA time zones, and the image has no zoneinfo.
	_ "time/tzdata"

	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func main() {
	sandbox.RefuseToRender()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.NewRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lockstep:", err)
		stop()
		os.Exit(cli.ExitCode(err))
	}
}
