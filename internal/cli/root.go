// Package cli implements the lockstep command line: one file per command, each
// parsing flags and calling into the packages that do the work.
package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// NewRootCommand returns the lockstep command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lockstep",
		Short: "GitOps continuous delivery for Kubernetes, built for closed networks",
		Long: `Lockstep keeps Kubernetes clusters in lockstep with Git: it pulls desired state
from an internal Git server, verifies and renders it, checks it against policy,
applies exactly that, and records every change in a tamper-evident ledger.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &UsageError{fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
	})
	root.AddCommand(newVersionCommand(), newDevCommand(), newControllerCommand(),
		newGetCommand(), newBuildCommand(), newDiffCommand(), newSyncCommand(), newRollbackCommand(), newHoldCommand(), newPromoteCommand(),
		newHistoryCommand(), newAuditCommand(), newBlameCommand(),
		newLoginCommand(), newLogoutCommand(), newContextCommand(), newWhoamiCommand(), newAccountCommand(), newTokenCommand(),
		newTreeCommand(), newLogsCommand(), newRestartCommand(), newInstallCommand(), newImageCommand(), newBundleCommand(), newImportCommand(), newBootstrapCommand())
	root.AddCommand(newManualActionCommands()...)
	usageErrors(root)
	return root
}

// usageErrors makes every command's argument check fail with a UsageError,
// so a script can tell a wrong command line (exit 2) from a failure.
func usageErrors(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &UsageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageErrors(sub)
	}
}
