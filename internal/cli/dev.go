package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/devenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

// ReadyLine is printed once `lockstep dev` has everything up; scripts wait for it.
const ReadyLine = "lockstep dev: ready"

func newDevCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local control plane and Git server with an example repository",
		Long: `Starts a real Kubernetes control plane (etcd, kube-apiserver, controller-manager,
scheduler, and KWOK for fake nodes) and a real Git server (HTTPS and SSH) on this
machine, seeds the example repository, writes <state-dir>/env for your shell, and
runs until interrupted. Ctrl-C tears everything down.

The Kubernetes binaries are built from Go modules on first use (about ten minutes
on two cores) and cached under ~/.cache/lockstep.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), stateDir)
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", ".lockstep/dev", "folder for certificates, cluster data, repositories, logs and the env file")
	cmd.AddCommand(newDevPrepareCommand())
	return cmd
}

func runDev(ctx context.Context, out, progress io.Writer, stateDir string) error {
	env, err := devenv.Start(ctx, devenv.Options{StateDir: stateDir, Progress: progress})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(progress, "dev: stopping")
		env.Stop()
		fmt.Fprintln(progress, "dev: stopped; logs are kept in", env.StateDir)
	}()
	fmt.Fprintf(out, `
Lockstep dev environment
  Kubernetes API  %s (admin kubeconfig: %s)
  Git (HTTPS)     %s  user %s
  Git (SSH)       %s
  State and logs  %s

  Controller      in this process, log in %s/controller.log
  Lockstep API    %s  accounts %s and %s (read-only); passwords in the env file
  Web UI          %s/  in a browser that trusts %s
                  (import it once: it is kept from run to run)
                  log in as %s, password: grep LOCKSTEP_ADMIN_PASSWORD %s (or as %s)
  Applications    webapp-dev, webapp-stage, webapp-prod (Kustomize), webapp-helm (Helm)
                  in namespace %s; the Git server's webhook (Receiver git) applies a
                  push at once, and they poll every %s besides

In another shell:
  source %s
  %s
  lockstep get apps                     # sync status, revisions, health, through the API
  git clone "$GIT_URL" webapp           # asks for GIT_USERNAME / GIT_PASSWORD
  cd webapp && $EDITOR overlays/prod/kustomization.yaml && git commit -am "..." && git push
  kubectl get deploy -n webapp-prod     # the change, applied within a second (%s at most)
  GIT_SSH_COMMAND="$LOCKSTEP_GIT_SSH_COMMAND" git clone "$GIT_SSH_URL" webapp-ssh   # or over SSH

The read-only account, in a context of its own (lockstep context %s switches back):
  %s

%s
`, env.ControlPlane.Config.Host, env.ControlPlane.Kubeconfig,
		env.Git.HTTPSURL(devenv.ExampleRepo), devenv.DevUser,
		env.Git.SSHURL(devenv.ExampleRepo), env.StateDir, env.StateDir,
		env.APIURL, devenv.AdminAccount, devenv.ViewerAccount, env.APIURL, env.APICAFile, devenv.AdminAccount, env.EnvFile, devenv.ViewerAccount,
		devenv.AppNamespace, devenv.PollInterval,
		env.EnvFile, devenv.LoginCommand(devenv.AdminAccount), devenv.PollInterval,
		devenv.AdminAccount, devenv.LoginCommand(devenv.ViewerAccount), ReadyLine)

	// Run until interrupted, or until a component dies (then say which).
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := env.ControlPlane.Exited(); err != nil {
				return fmt.Errorf("%w; logs in %s/cluster/logs", err, env.StateDir)
			}
		}
	}
}

func newDevPrepareCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "prepare",
		Short: "Build (once) the Kubernetes binaries that dev and the tests use, and print their folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := kubebin.Ensure(cmd.Context(), kubebin.Options{Dir: dir, Progress: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), set.Dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "build into this folder instead of ${XDG_CACHE_HOME:-~/.cache}/lockstep/kube/<version>")
	return cmd
}
