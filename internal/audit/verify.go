package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Report is what Verify found.
type Report struct {
	// Records is how many records were checked; First and Last their range.
	Records     int    `json:"records"`
	First       uint64 `json:"first,omitempty"`
	Last        uint64 `json:"last,omitempty"`
	HeadHash    string `json:"headHash,omitempty"`
	Key         string `json:"key,omitempty"` // fingerprint of the checkpoints' signing key
	KeyTrusted  bool   `json:"keyTrusted"`    // false: checked against the key the ledger itself names
	CutAt       uint64 `json:"cutAt,omitempty"`
	Problem     string `json:"problem,omitempty"`
	FirstBadSeq uint64 `json:"firstBadSeq,omitempty"`
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Problem == "" }

// Verify walks the whole chain in store order and checks that every record is
// whole, indexed as its body says, numbered without gaps, holds the hash of the record before it, and that
// the newest record is the one the signed head checkpoint names (and the oldest
// follows the signed retention cut, if any). trusted is the public key the
// checkpoints must be signed with; when nil, the key they name is used and
// Report.KeyTrusted is false. The first problem stops the walk and names the
// first bad record. An error is returned only when the store cannot be read.
func Verify(ctx context.Context, store Store, trusted ed25519.PublicKey) (Report, error) {
	for attempt := 1; ; attempt++ {
		rep, head, err := verifyOnce(ctx, store, trusted)
		if err != nil || head == nil || rep.Last <= head.Seq || attempt == 3 {
			return rep, err
		}
		// Records newer than the head read first: appended (with their own
		// signed head) while the chain was walked, or added unsigned. A
		// head that moved meanwhile says which; walk again.
		now, _, err := store.Checkpoints(ctx)
		if err != nil {
			return rep, err
		}
		if now == nil || now.Seq == head.Seq {
			return rep, nil
		}
	}
}

// verifyOnce is one walk of Verify, and the head checkpoint it checked
// against.
func verifyOnce(ctx context.Context, store Store, trusted ed25519.PublicKey) (Report, *Checkpoint, error) {
	rep := Report{KeyTrusted: trusted != nil}
	head, cut, err := store.Checkpoints(ctx)
	if err != nil {
		return rep, nil, err
	}
	bad := func(seq uint64, format string, args ...any) error {
		rep.FirstBadSeq, rep.Problem = seq, fmt.Sprintf(format, args...)
		return errStopScan
	}
	for _, c := range []*Checkpoint{cut, head} {
		if c == nil {
			continue
		}
		if err := c.verifyWith(trusted); err != nil {
			rep.Problem = err.Error()
			return rep, head, nil
		}
		if pub, err := ParsePublicKey([]byte(c.PublicKey)); err == nil {
			rep.Key = Fingerprint(pub)
		}
	}
	wantSeq, wantPrev := uint64(1), ""
	if cut != nil {
		wantSeq, wantPrev, rep.CutAt = cut.Seq, cut.Hash, cut.Seq
	}
	var last Record
	err = store.Scan(ctx, 0, func(seq uint64, body []byte, index Index) error {
		rec, err := Decode(body)
		switch {
		case err != nil:
			return bad(seq, "record #%d: %v", seq, err)
		case !index.Matches(IndexOf(rec)):
			return bad(seq, "record #%d: the index the store keeps for it (application, author, event, time or objects) does not match its body: it was edited, so history, audit and blame would miss or misattribute the record", seq)
		case rec.Seq != seq:
			return bad(seq, "record #%d holds sequence number %d: records were reordered or renumbered", seq, rec.Seq)
		case seq < wantSeq && rep.Records == 0 && cut != nil:
			return bad(seq, "record #%d is older than the signed retention cut at #%d", seq, cut.Seq)
		case seq != wantSeq && rep.Records == 0 && cut == nil:
			return bad(wantSeq, "records #%d to #%d are missing (deleted)", wantSeq, seq-1)
		case seq != wantSeq:
			return bad(wantSeq, "record #%d is missing (deleted): #%d follows #%d", wantSeq, seq, wantSeq-1)
		case rec.PrevHash != wantPrev && rep.Records == 0:
			return bad(seq, "record #%d does not follow the signed retention cut (or the first record was altered)", seq)
		case rec.PrevHash != wantPrev:
			return bad(seq-1, "record #%d was altered: its hash no longer matches the one record #%d holds", seq-1, seq)
		}
		if rep.Records == 0 {
			rep.First = seq
		}
		rep.Records++
		last = rec
		wantSeq, wantPrev = seq+1, rec.Hash
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return rep, head, err
	}
	if rep.Problem != "" {
		return rep, head, nil
	}
	rep.Last, rep.HeadHash = last.Seq, last.Hash
	switch {
	case head == nil && rep.Records > 0:
		rep.FirstBadSeq, rep.Problem = rep.First, "the ledger has records but no signed head checkpoint"
	case head == nil:
		// empty and never written: nothing to check
	case head.Seq > last.Seq:
		rep.FirstBadSeq, rep.Problem = last.Seq+1, fmt.Sprintf("records #%d to #%d are missing: the signed head is #%d (the newest records were deleted)", last.Seq+1, head.Seq, head.Seq)
	case head.Seq < last.Seq:
		rep.FirstBadSeq, rep.Problem = head.Seq+1, fmt.Sprintf("records #%d to #%d were added without a signature: the signed head is #%d", head.Seq+1, last.Seq, head.Seq)
	case head.Hash != last.Hash:
		rep.FirstBadSeq, rep.Problem = last.Seq, fmt.Sprintf("record #%d was altered: its hash does not match the signed head", last.Seq)
	}
	return rep, head, nil
}
