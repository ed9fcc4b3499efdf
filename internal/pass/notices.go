package pass

import (
	"errors"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/notify"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// Notices are what the pass tells people (package notify), given the status
// it leads to and the ledger records written for it. Only news is told: a
// failure when it begins (or its reason or revision changes), not at every
// retry; drift when it is found; Degraded when health turns to it; Deployed
// once per commit (status.lastDeployedRevision changed). Every text is
// scrubbed of the pass's Secrets.
func Notices(p *Pass, next *v1.ApplicationStatus, written []audit.Record) []notify.Message {
	prev := &p.Application.Status
	var out []notify.Message
	add := func(t notify.Trigger, sev notify.Severity, reason, summary string) {
		out = append(out, message(p, next, written, t, sev, reason, summary))
	}
	switch {
	case p.Gated && p.Err == nil:
	case p.Err != nil:
		if failureIsNews(prev, next) {
			t, sev := failureTrigger(p.Err)
			add(t, sev, p.Err.Reason, p.Scrubber().Scrub(p.Err.Error()))
		}
	case p.Reverted():
		add(notify.DriftReverted, notify.Info, v1.ReasonDriftReverted, "Reverted drift: "+DescribeDrift(p))
	case p.Changed():
		add(notify.SyncSucceeded, notify.Info, v1.ReasonSucceeded, "Synced "+p.Commit.Short()+rollbackNote(p)+": "+Summary(p))
	case p.Drifted() && prev.Sync.Reason != v1.ReasonDriftDetected:
		add(notify.DriftDetected, notify.Warning, v1.ReasonDriftDetected, "Drift detected: "+DescribeDrift(p))
	}
	// A sync that waited for health and gave up failed too, though no stage
	// did (sync.wait, its timeout): told when the wait runs out, not when a
	// deployed commit's health wobbles later.
	if ready, before := meta.FindStatusCondition(next.Conditions, v1.ConditionReady), meta.FindStatusCondition(prev.Conditions, v1.ConditionReady); p.Err == nil && !p.Gated &&
		before != nil && before.Reason == v1.ReasonProgressing && next.LastDeployedRevision != next.Sync.Revision &&
		ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == v1.ReasonHealthCheckFailed &&
		healthOf(next) != string(health.Degraded) && failureIsNews(prev, next) { // Degraded is told below
		add(notify.SyncFailed, notify.Error, v1.ReasonHealthCheckFailed, p.Scrubber().Scrub(ready.Message))
	}
	if healthOf(next) == string(health.Degraded) && healthOf(prev) != string(health.Degraded) {
		msg := "Degraded"
		if next.Health.Object != "" {
			msg += ": " + next.Health.Object
		}
		if next.Health.Message != "" {
			msg += ": " + p.Scrubber().Scrub(next.Health.Message)
		}
		add(notify.HealthDegraded, notify.Error, v1.ReasonHealthCheckFailed, msg)
	}
	deployed := next.LastDeployedRevision != "" && next.LastDeployedRevision != prev.LastDeployedRevision
	if deployed {
		add(notify.Deployed, notify.Info, v1.ReasonSucceeded, short(next.LastDeployedRevision)+" is applied, in sync and healthy")
	}
	if !deployed && !p.Changed() && recovered(prev, next) {
		add(notify.Recovered, notify.Info, v1.ReasonSucceeded, "Ready again at "+short(next.Sync.Revision)+", "+healthOf(next))
	}
	return out
}

// failureReasons are the Ready reasons a failure leaves.
var failureReasons = []string{v1.ReasonSourceFailed, v1.ReasonRenderFailed, v1.ReasonPlanFailed, v1.ReasonApplyFailed,
	v1.ReasonPruneFailed, v1.ReasonHookFailed, v1.ReasonPolicyDenied, v1.ReasonVerificationFailed, v1.ReasonHealthCheckFailed, v1.ReasonInvalidSpec}

// recovered says whether the Application is Ready again after a failure, or
// healthy again after Degraded, without a new commit deployed (Deployed
// says that one).
func recovered(prev, next *v1.ApplicationStatus) bool {
	before, after := meta.FindStatusCondition(prev.Conditions, v1.ConditionReady), meta.FindStatusCondition(next.Conditions, v1.ConditionReady)
	if after == nil || after.Status != metav1.ConditionTrue {
		return false
	}
	failed := before != nil && before.Status == metav1.ConditionFalse && slices.Contains(failureReasons, before.Reason)
	return failed || (healthOf(prev) == string(health.Degraded) && healthOf(next) == string(health.Healthy))
}

// failureIsNews says whether a failed pass is a new failure: the Ready
// condition's reason or the revision it failed at changed.
func failureIsNews(prev, next *v1.ApplicationStatus) bool {
	before, after := meta.FindStatusCondition(prev.Conditions, v1.ConditionReady), meta.FindStatusCondition(next.Conditions, v1.ConditionReady)
	if before == nil || after == nil {
		return true
	}
	return before.Status != after.Status || before.Reason != after.Reason || prev.Sync.Revision != next.Sync.Revision
}

// failureTrigger names a stage's failure: the Project's rules refused the
// commit (its approvals in particular), its signature did not verify, or
// something else failed.
func failureTrigger(err *StageError) (notify.Trigger, notify.Severity) {
	switch err.Reason {
	case v1.ReasonVerificationFailed:
		return notify.VerificationFailed, notify.Error
	case v1.ReasonPolicyDenied:
		var denied *policy.DeniedError
		if errors.As(err, &denied) {
			for _, v := range denied.Violations {
				if v.Rule == "spec.approvals" {
					return notify.ApprovalMissing, notify.Warning
				}
			}
		}
		return notify.PolicyDenied, notify.Error
	}
	return notify.SyncFailed, notify.Error
}

func healthOf(st *v1.ApplicationStatus) string {
	if st.Health == nil {
		return ""
	}
	return st.Health.Status
}

// message is one notification of the pass: the Application, the commit
// with its author and approvers, the status after the pass, the records.
func message(p *Pass, next *v1.ApplicationStatus, written []audit.Record, t notify.Trigger, sev notify.Severity, reason, summary string) notify.Message {
	app := p.Application
	m := notify.Message{
		Trigger: t, Severity: sev, Time: p.Finished,
		Application: app.Namespace + "/" + app.Name, Project: p.Project, Cluster: app.Spec.Destination.Cluster,
		Namespace: app.Spec.Destination.Namespace, Repository: object.RedactedURL(app.Spec.Source.Git.URL),
		Sync: string(next.Sync.Status), Health: healthOf(next), Reason: reason, Summary: Truncate(summary, 1024),
		Approvers: p.Approvers,
	}
	if m.Namespace == "" {
		m.Namespace = app.Namespace
	}
	switch {
	case t == notify.Deployed:
		m.Revision = next.LastDeployedRevision
		if r := next.LastAppliedRevision; r != nil && r.Commit == m.Revision {
			m.Author, m.Committer, m.Subject = r.Author, r.Committer, r.Subject
		}
	case p.Commit != nil:
		m.Revision, m.Author, m.Committer, m.Subject = p.Commit.Hash, p.Commit.Author, p.Commit.Committer, p.Commit.Subject
	default:
		m.Revision = next.Sync.Revision
	}
	for _, rec := range written {
		m.Records = append(m.Records, notify.RecordRef{Seq: rec.Seq, Hash: rec.Hash})
	}
	return m
}
