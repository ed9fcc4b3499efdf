// Package notify tells people what Lockstep did, where they already look:
// chat rooms (Slack-compatible, Matrix, Teams), mail, Alertmanager, any HTTP
// endpoint, and the Git server's commit statuses. A Message is built from a
// pass by package pass; a Dispatcher hands it to every matching Provider in
// the background, with retries, so a receiver that hangs or fails never slows
// reconciliation.
package notify

import (
	"context"
	"time"
)

// Trigger names what happened; subscriptions choose by it.
type Trigger string

// The triggers.
const (
	SyncSucceeded      Trigger = "SyncSucceeded"      // a sync changed the cluster
	SyncFailed         Trigger = "SyncFailed"         // fetch, render, plan, apply or health failed
	Deployed           Trigger = "Deployed"           // a commit is applied and healthy: once per commit
	HealthDegraded     Trigger = "HealthDegraded"     // the Application turned Degraded
	DriftDetected      Trigger = "DriftDetected"      // the cluster differs from Git (not reverted)
	DriftReverted      Trigger = "DriftReverted"      // self-heal put it back
	PolicyDenied       Trigger = "PolicyDenied"       // the Project's rules refused the commit
	VerificationFailed Trigger = "VerificationFailed" // the commit's signature did not verify
	ApprovalMissing    Trigger = "ApprovalMissing"    // the two-person rule is not met
	// Recovered: Ready again after a failure without a new commit applied
	// (an apply that failed, then went through; a Project fixed): it ends
	// what the failure started (alerts, a red commit status).
	Recovered Trigger = "Recovered"
)

// Triggers lists them, for validation and help texts.
var Triggers = []Trigger{SyncSucceeded, SyncFailed, Deployed, HealthDegraded, DriftDetected, DriftReverted, PolicyDenied, VerificationFailed, ApprovalMissing, Recovered}

// Severity is how loud a message is: chat colours, mail subjects and
// Alertmanager's severity label follow it.
type Severity string

// The severities.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Message is one notification. Every text in it is already scrubbed of
// secret values by the caller: providers send it as it is.
type Message struct {
	Trigger  Trigger
	Severity Severity
	Time     time.Time

	// Application is "namespace/name"; Project its Project.
	Application string
	Project     string
	// Cluster and Namespace are where it deploys ("" cluster: the local one).
	Cluster, Namespace string

	// Repository is the Git URL the Application follows (never with
	// credentials); Revision the full commit hash the message is about.
	Repository string
	Revision   string
	// Author and Committer of the commit ("Name <email>"), its subject line,
	// and the approvers the two-person rule counted.
	Author, Committer, Subject string
	Approvers                  []string

	// Sync is "Synced" or "OutOfSync"; Health the Application's health
	// (Healthy, Progressing, Degraded, ...) after the pass.
	Sync, Health string
	// Reason is the condition reason (SourceFailed, PolicyDenied, ...);
	// Summary one line of what happened ("2 created, 1 updated, 0 pruned",
	// or the error); both for people.
	Reason, Summary string

	// Records are the ledger records written for it, by number and hash.
	Records []RecordRef
	// URL is the Application's page in Lockstep's UI, when the public URL is
	// known (--api-public-url); "" otherwise.
	URL string
}

// RecordRef names a ledger record.
type RecordRef struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Provider delivers a message to one receiver. Send returns a *DeliveryError
// saying whether trying again may help; it must honour ctx (a receiver that
// hangs is given up on when ctx ends).
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// DeliveryError is a failed delivery. Retry says whether sending the same
// message again may succeed (a timeout, a refused connection, 5xx, 429) or
// not (another 4xx: a wrong address or token); RetryAfter is what the
// receiver asked for (429/503 Retry-After), 0 when it did not say.
type DeliveryError struct {
	Retry      bool
	RetryAfter time.Duration
	Err        error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }
