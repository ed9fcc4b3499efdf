package audit

import (
	"context"
	"errors"
	"fmt"
)

// LedgerItself is the Application name of records about the ledger, not about
// an Application: no Kubernetes name can hold parentheses.
const LedgerItself = "(ledger)"

// ErrKeyChanged is returned by CheckKey when the ledger's head was signed with
// another key than the ledger's: its key Secret was lost or replaced.
var ErrKeyChanged = errors.New("the ledger was signed with another key")

// CheckKey compares the key that signed the store's head checkpoint with the
// ledger's own. A different key is never silent: without accept it is
// ErrKeyChanged, naming both fingerprints; with accept the change is recorded
// (an EventKeyChanged record, chained and signed with the new key) so verify
// and every export show where one key ends and the next begins.
func (l *Ledger) CheckKey(ctx context.Context, accept bool) error {
	head, _, err := l.store.Checkpoints(ctx)
	if err != nil || head == nil {
		return err
	}
	old, err := ParsePublicKey([]byte(head.PublicKey))
	if err != nil {
		return fmt.Errorf("the ledger's head checkpoint names no readable key: %w", err)
	}
	if old.Equal(l.PublicKey()) {
		return nil
	}
	oldFP, newFP := Fingerprint(old), Fingerprint(l.PublicKey())
	if !accept {
		return fmt.Errorf("%w: its records up to #%d were signed with key %s, and the key given is %s", ErrKeyChanged, head.Seq, oldFP, newFP)
	}
	_, err = l.Append(ctx, Record{Event: EventKeyChanged, Application: LedgerItself, Actor: ActorController, Result: Succeeded,
		Message: fmt.Sprintf("checkpoints were signed with key %s up to record #%d; from here with key %s", oldFP, head.Seq, newFP)})
	return err
}
