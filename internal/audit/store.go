package audit

import (
	"context"
	"errors"
	"time"
)

// Store keeps records and checkpoints. It stores what the Ledger gives it and
// checks nothing: hashing, chaining and signing are the Ledger's, so a
// PostgreSQL store for an HA install needs no more than these calls.
type Store interface {
	// Head returns the newest record's sequence number and hash; 0 and "" when
	// the store holds no record.
	Head(ctx context.Context) (seq uint64, hash string, err error)
	// Append stores records (consecutive, the first following the head) and the
	// new head checkpoint in one transaction. It fails with ErrHeadMoved, storing
	// nothing, when another writer appended since Head.
	Append(ctx context.Context, records []Stored, head Checkpoint) error
	// Scan calls fn for each stored record with a sequence number above after,
	// in order, with the index the store keeps for it. The seq and index passed
	// are the store's own, which Verify compares with what body says.
	Scan(ctx context.Context, after uint64, fn func(seq uint64, body []byte, index Index) error) error
	// Query returns the records that match, newest first.
	Query(ctx context.Context, f Filter) ([]Record, error)
	// Checkpoints returns the head checkpoint and the newest retention cut; nil
	// when there is none.
	Checkpoints(ctx context.Context) (head, cut *Checkpoint, err error)
	// Cut deletes the records before firstKept and stores the cut checkpoint, in
	// one transaction, and returns how many records it deleted.
	Cut(ctx context.Context, firstKept uint64, cut Checkpoint) (int64, error)
	Close() error
}

// Stored is a record with its canonical bytes, as a Store keeps it.
type Stored struct {
	Record
	Body []byte
}

// ErrHeadMoved is returned by Append when the chain's head is no longer the one
// the records follow.
var ErrHeadMoved = errors.New("the ledger's head moved: another writer appended")

// Filter selects records. Zero fields match everything.
type Filter struct {
	// Application is "namespace/name".
	Application string
	Events      []Event
	Since       time.Time
	Until       time.Time
	// Author matches part of the commit author, case-insensitively.
	Author string
	// Object matches records that changed this object.
	Object *ObjectRef
	// Before returns only records with a smaller sequence number (paging).
	Before uint64
	// OldestFirst reverses the order.
	OldestFirst bool
	// Limit caps the result; DefaultLimit when 0.
	Limit int
}

// DefaultLimit is how many records a query returns unless told otherwise;
// MaxLimit is the most it returns at once (page with Filter.Before).
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// ObjectRef names an object independent of its API version.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Ref returns the object a change is about.
func (c Change) Ref() ObjectRef {
	return ObjectRef{Group: c.Group, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
}

// EffectiveLimit is the limit a store applies.
func (f Filter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}
