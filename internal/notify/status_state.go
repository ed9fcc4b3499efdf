package notify

import (
	"net/url"
	"strings"
)

// commitState is what Lockstep says of a commit, before each server's
// spelling of it.
type commitState int

// The states, from waiting to done.
const (
	// statePending: nothing applied yet, waiting for something (an
	// approval).
	statePending commitState = iota
	// stateRunning: applied, the workloads still progressing.
	stateRunning
	// stateSuccess: applied and healthy.
	stateSuccess
	// stateFailure: the commit's result is bad: it was refused (policy,
	// signature) or its workloads are degraded.
	stateFailure
	// stateError: Lockstep could not finish the sync (fetch, render, apply
	// or health check failed).
	stateError
)

// stateOf maps a message to the state its commit gets; ok is false for
// triggers that say nothing of the commit (drift found but not reverted:
// the commit was deployed, the cluster moved since), which set no status.
func stateOf(m Message) (s commitState, ok bool) {
	switch m.Trigger {
	case Deployed:
		return stateSuccess, true
	case SyncSucceeded, DriftReverted, Recovered:
		return stateOfHealth(m.Health), true
	case HealthDegraded, PolicyDenied, VerificationFailed:
		return stateFailure, true
	case SyncFailed:
		return stateError, true
	case ApprovalMissing:
		return statePending, true
	}
	return 0, false
}

// stateOfHealth is the state of an applied commit by the Application's
// health after the pass (health.Status's names).
func stateOfHealth(h string) commitState {
	switch h {
	case "Healthy":
		return stateSuccess
	case "Degraded", "Missing":
		return stateFailure
	}
	return stateRunning // Progressing, Suspended, unknown: not settled yet
}

// statusDescription is the status's one line: what happened, then the
// message's summary, without line breaks or control characters (oneLine),
// cut to max characters (the servers refuse longer ones).
func statusDescription(m Message, max int) string {
	var head string
	switch m.Trigger {
	case Deployed:
		head = "Deployed"
	case SyncSucceeded:
		head = "Synced"
	case DriftReverted:
		head = "Drift reverted"
	case HealthDegraded:
		head = "Degraded"
	case PolicyDenied:
		head = "Denied by policy"
	case VerificationFailed:
		head = "Signature not verified"
	case ApprovalMissing:
		head = "Waiting for approval"
	case SyncFailed:
		head = "Sync failed"
		if m.Reason != "" {
			head += " (" + m.Reason + ")"
		}
	default:
		head = string(m.Trigger)
	}
	if m.Health != "" && (m.Trigger == SyncSucceeded || m.Trigger == DriftReverted || m.Trigger == Recovered) {
		head += ", " + m.Health
	}
	if m.Summary != "" {
		head += ": " + m.Summary
	}
	return oneLine(head, max)
}

// statusContext names Lockstep's status among a commit's others:
// "lockstep/namespace/name". Servers keep one status per context, so each
// Application has its own and a later message replaces the earlier one.
func statusContext(prefix string, m Message) string {
	name := oneLine(m.Application, maxContext)
	if name == "" {
		return prefix
	}
	return oneLine(prefix+"/"+name, maxContext)
}

// maxContext bounds a status's context; GitLab's name column takes 255.
const maxContext = 255

// targetURL is the message's link to the Application in Lockstep's UI when
// it is an absolute http(s) URL of at most max bytes; "" otherwise (a
// status without a link beats a status refused).
func targetURL(raw string, max int) string {
	if raw == "" || len(raw) > max || hasControl(raw) || strings.ContainsAny(raw, " \t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return raw
}

// SetsStatus says whether a commit-status receiver has anything to write
// for m: a state for its trigger, on a full commit hash. Messages that set
// none (drift found; a fetch that failed before any commit was known) are
// not queued, so they neither count as delivered nor fail.
func SetsStatus(m Message) bool {
	_, ok := stateOf(m)
	_, err := commitHash(m.Revision)
	return ok && err == nil
}
