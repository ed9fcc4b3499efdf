// Package cli implements the lockstep command line: one file per command, each
// parsing flags and calling into the packages that do the work.
package cli

import (
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
	root.AddCommand(newVersionCommand(), newDevCommand(), newControllerCommand(),
		newGetCommand(), newBuildCommand(), newDiffCommand(), newSyncCommand(),
		newHistoryCommand(), newAuditCommand(), newBlameCommand(),
		newLoginCommand(), newLogoutCommand(), newContextCommand(), newWhoamiCommand(), newAccountCommand(), newTokenCommand())
	root.AddCommand(newManualActionCommands()...)
	return root
}
