// Package audit is the ledger: one record for every sync, drift, prune, denial
// and manual action, chained by SHA-256 and checkpointed with an ed25519
// signature so that editing, reordering or deleting records is detected; and
// blame, which walks the records back from a live field to the commit that set it.
//
// The package holds no storage of its own: a Store (SQLite today, see
// internal/audit/sqlite) keeps the records, the Ledger chains and signs them.
package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is what a record is about.
type Event string

// Events. Sync is every sync attempt, succeeded or failed; Drift every drift
// detected, reverted or not; Prune the objects a sync deleted; Denied a policy or
// verification denial; the rest are manual actions, with the user as actor.
const (
	EventSync    Event = "Sync"
	EventDrift   Event = "Drift"
	EventPrune   Event = "Prune"
	EventDenied  Event = "Denied"
	EventRefresh Event = "Refresh"
	EventSuspend Event = "Suspend"
	EventResume  Event = "Resume"
	// EventAction is an action on one of an Application's objects (restart),
	// taken by a user through the API.
	EventAction Event = "Action"
	// EventKeyChanged marks where the ledger's signing key changed (CheckKey).
	EventKeyChanged Event = "KeyChanged"
	// EventHold is a hold put on an Application (lockstep rollback, lockstep
	// hold): Lockstep's automation stays out of it. EventRelease is its end.
	EventHold    Event = "Hold"
	EventRelease Event = "Release"
)

// Events lists every event, for help text and validation.
var Events = []Event{EventSync, EventDrift, EventPrune, EventDenied, EventRefresh, EventSuspend, EventResume, EventAction, EventKeyChanged, EventHold, EventRelease}

// ParseEvent accepts an event name in any case.
func ParseEvent(s string) (Event, error) {
	for _, e := range Events {
		if strings.EqualFold(string(e), s) {
			return e, nil
		}
	}
	return "", fmt.Errorf("unknown event kind %q (one of %v)", s, Events)
}

// Result is how the recorded event ended.
type Result string

// Results. Drift is Reverted (self-heal put Git's values back) or Detected
// (left for a person); everything else Succeeded or Failed.
const (
	Succeeded Result = "Succeeded"
	Failed    Result = "Failed"
	Reverted  Result = "Reverted"
	Detected  Result = "Detected"
)

// Actor of everything the controller does on its own.
const ActorController = "controller"

// Record is one ledger entry. Its canonical form (Canonical) is what the chain
// hashes; fields are omitted when empty so that fields added later do not change
// the canonical form of records written before them.
type Record struct {
	// Seq numbers records from 1, without gaps.
	Seq uint64 `json:"seq"`
	// PrevHash is the hex SHA-256 of the previous record's canonical form; empty
	// only for the first record ever written.
	PrevHash string    `json:"prevHash,omitempty"`
	Time     time.Time `json:"time"`
	Event    Event     `json:"event"`
	// Application is "namespace/name".
	Application string `json:"application"`
	Project     string `json:"project,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	// Namespace is the destination namespace.
	Namespace        string `json:"namespace,omitempty"`
	Revision         string `json:"revision,omitempty"`
	PreviousRevision string `json:"previousRevision,omitempty"`
	// Rollback is true when Revision does not descend from PreviousRevision.
	Rollback bool    `json:"rollback,omitempty"`
	Commit   *Commit `json:"commit,omitempty"`
	// Actor is ActorController, or the user who asked for a manual action.
	Actor string `json:"actor"`
	// Trigger is why a sync ran: Git, Drift or Manual.
	Trigger string `json:"trigger,omitempty"`
	Result  Result `json:"result"`
	// Reason is the stage's condition reason for a failure or denial.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Health is the Application's health after the event.
	Health     string `json:"health,omitempty"`
	DurationMS int64  `json:"durationMs,omitempty"`
	// Changes is the plan that was carried out (or attempted), per object.
	Changes []Change `json:"changes,omitempty"`
	// Images are the image references the Application's objects run once a
	// Sync applied them (containers, init and ephemeral containers, image
	// volumes), sorted, each once: what a release runs (Releases). Empty on
	// other records, and on records written before the field existed.
	Images []string `json:"images,omitempty"`

	// Hash is the hex SHA-256 of the canonical form; not part of it.
	Hash string `json:"-"`
}

// Commit is what the record keeps of a commit: who, when, why, and who approved.
type Commit struct {
	Author    string    `json:"author,omitempty"`
	Committer string    `json:"committer,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Subject   string    `json:"subject,omitempty"`
	// Tickets are the references the message mentions (PROJ-123, #45).
	Tickets    []string `json:"tickets,omitempty"`
	ApprovedBy []string `json:"approvedBy,omitempty"`
	ReviewedBy []string `json:"reviewedBy,omitempty"`
	// SignatureKey is the fingerprint of the key the commit's signature names,
	// unverified. TrustedKey is the trusted key that verified the revision (the
	// commit's signature, or the tag's when only the tag is verified); empty
	// when the Application needs no signature.
	SignatureKey string `json:"signatureKey,omitempty"`
	TrustedKey   string `json:"trustedKey,omitempty"`
}

// Action is what a change did to an object.
type Action string

// Actions recorded per object.
const (
	Create Action = "Create"
	Update Action = "Update"
	Prune  Action = "Prune"
	// Adopt is an object that existed and that no Application managed, taken
	// over; its field changes hold the values it had.
	Adopt Action = "Adopt"
	// Deleted is an object removed from the cluster by someone else (drift).
	Deleted Action = "Deleted"
)

// Change is one object's part in a record.
type Change struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
	// Fields are the changed fields of an Update, with values (never a Secret's).
	Fields []FieldChange `json:"fields,omitempty"`
	// Rollout is true when a workload's pod template changed: its Pods are
	// replaced.
	Rollout bool `json:"rollout,omitempty"`
	// ChangedBy is who made a drift, as the object's managedFields say.
	ChangedBy *Writer `json:"changedBy,omitempty"`
	// Error is why applying or pruning this object failed.
	Error string `json:"error,omitempty"`
}

// Object names the changed object as errors and logs do: Kind/namespace/name,
// with the group for non-core kinds.
func (c Change) Object() string {
	kind := c.Kind
	if c.Group != "" {
		kind += "." + c.Group
	}
	if c.Namespace == "" {
		return kind + "/" + c.Name
	}
	return kind + "/" + c.Namespace + "/" + c.Name
}

// FieldChange is one changed field: its path (plan's syntax: dots, [i] for list
// items) and its values before and after as compact JSON, cut to MaxValueLen.
// A Secret's values read "(changed)".
type FieldChange struct {
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Writer is a field manager that wrote an object.
type Writer struct {
	Manager   string `json:"manager"`
	Operation string `json:"operation,omitempty"`
	Time      string `json:"time,omitempty"`
}

// Canonical is the record's canonical form: compact JSON with Go's field order,
// Seq and PrevHash included, Hash excluded. The store keeps exactly these bytes.
func (r Record) Canonical() ([]byte, error) {
	r.Time = r.Time.UTC()
	if r.Commit != nil && !r.Commit.Time.IsZero() {
		c := *r.Commit
		c.Time = c.Time.UTC()
		r.Commit = &c
	}
	return json.Marshal(r)
}

// Decode reads a record from its canonical form and sets Hash from the bytes.
// It rejects anything that is not a whole record.
func Decode(body []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("not a ledger record: %w", err)
	}
	if r.Seq == 0 || r.Event == "" || r.Application == "" {
		return Record{}, fmt.Errorf("not a ledger record: seq, event or application missing")
	}
	r.Hash = hashOf(body)
	return r, nil
}
