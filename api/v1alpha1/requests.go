package v1alpha1

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The values of the sync-requested-by and action-requested-by annotations.
// Spaces separate their parts, so a name is written without any.
//
//	sync-requested-by:   "<who> at <RFC 3339 time>[ for <commit>[ gen <generation>]]"
//	action-requested-by: "<action> by <who> at <RFC 3339 time>"
//
// A sync request naming a commit applies that commit or nothing: if the
// followed ref moved on, the request is refused rather than applying a
// commit the requester did not see. Naming the Application's generation too,
// it is refused when the spec changed since (another path, other values).

// SyncRequestValue is the sync-requested-by annotation's value for who, now
// and, when not empty, the commit they previewed (and, when not 0, the
// Application's generation they previewed).
func SyncRequestValue(who string, now time.Time, commit string, generation int64) string {
	v := who + " at " + now.UTC().Format(time.RFC3339Nano)
	if commit != "" {
		v += " for " + commit
		if generation > 0 {
			v += " gen " + strconv.FormatInt(generation, 10)
		}
	}
	return v
}

// SyncRequest is a parsed sync-requested-by annotation.
type SyncRequest struct {
	Who, At string
	// Commit is the commit the sync is pinned to; "" is the newest.
	Commit string
	// Generation is the spec's generation it is pinned to; 0 is any.
	Generation int64
}

// ParseSyncRequest reads a sync-requested-by annotation's value.
func ParseSyncRequest(v string) SyncRequest {
	who, rest, _ := strings.Cut(v, " at ")
	at, pinned, _ := strings.Cut(rest, " for ")
	commit, gen, _ := strings.Cut(pinned, " gen ")
	g, _ := strconv.ParseInt(strings.TrimSpace(gen), 10, 64)
	return SyncRequest{Who: who, At: at, Commit: strings.TrimSpace(commit), Generation: max(g, 0)}
}

// ActionRequestValue is the action-requested-by annotation's value.
func ActionRequestValue(action, who string, now time.Time) string {
	return action + " by " + who + " at " + now.UTC().Format(time.RFC3339Nano)
}

// ActionRequest is a parsed action-requested-by annotation.
type ActionRequest struct {
	Action, Who, At string
}

// ParseActionRequest reads an action-requested-by annotation's value.
func ParseActionRequest(v string) ActionRequest {
	action, rest, _ := strings.Cut(v, " by ")
	who, at, _ := strings.Cut(rest, " at ")
	return ActionRequest{Action: action, Who: who, At: at}
}

// ManualActionPatch is the merge patch of a manual action (refresh, suspend,
// resume) by who at now: what it changes, and the action-requested-by
// annotation naming who asked, which the controller records in the ledger.
// request is that annotation's value. The API and `lockstep` with a
// kubeconfig both write it.
func ManualActionPatch(action, who string, now time.Time) (patch map[string]any, request string) {
	request = ActionRequestValue(action, who, now)
	ann := map[string]any{AnnotationActionRequestedBy: request}
	patch = map[string]any{"metadata": map[string]any{"annotations": ann}}
	switch action {
	case "refresh":
		ann[AnnotationReconcileRequestedAt] = now.UTC().Format(time.RFC3339Nano)
	case "suspend":
		patch["spec"] = map[string]any{"suspend": true}
	case "resume":
		patch["spec"] = map[string]any{"suspend": false}
	}
	return patch, request
}

// MaxHoldReason bounds a hold's reason, in bytes.
const MaxHoldReason = 1024

// HoldValue is the AnnotationHold value that sets h.
func HoldValue(h Hold) string {
	if len(h.Reason) > MaxHoldReason {
		h.Reason = strings.ToValidUTF8(h.Reason[:MaxHoldReason], "")
	}
	data, _ := json.Marshal(h) // a struct of strings and a time: never fails
	return string(data)
}

// ParseHold reads an AnnotationHold value; nil for none. A value that is not
// a hold is a hold all the same (automation stays out: failing closed), whose
// reason says it could not be read.
func ParseHold(v string) *Hold {
	if v == "" {
		return nil
	}
	h := &Hold{}
	if err := json.Unmarshal([]byte(v), h); err != nil || h.Reason == "" && h.By == "" {
		return &Hold{Reason: "an unreadable " + AnnotationHold + " annotation (set it with lockstep hold)"}
	}
	if len(h.Reason) > MaxHoldReason {
		h.Reason = strings.ToValidUTF8(h.Reason[:MaxHoldReason], "")
	}
	return h
}

// HoldPatch is the merge patch that puts hold on an Application, or clears
// its hold when hold is nil, naming who in the action-requested-by
// annotation (the ledger's actor for the release).
func HoldPatch(hold *Hold, who string, now time.Time) map[string]any {
	ann := map[string]any{}
	if hold != nil {
		ann[AnnotationHold] = HoldValue(*hold)
		ann[AnnotationActionRequestedBy] = ActionRequestValue("hold", who, now)
	} else {
		ann[AnnotationHold] = nil
		ann[AnnotationActionRequestedBy] = ActionRequestValue("release", who, now)
	}
	return map[string]any{"metadata": map[string]any{"annotations": ann}}
}
