package verify_test

import (
	"bytes"
	"strings"
	"testing"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// The verification mode decides what must be signed, and a signed tag counts
// only under its own name.
func TestRevisionChecksWhatTheModeAsks(t *testing.T) {
	key := sshKey(t)
	keys := ring(t, key.AuthorizedKey())
	sign := func(p []byte) string {
		sig, err := key.Sign(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		return string(sig)
	}
	tagPayload := []byte("object 0123\ntype commit\ntag v1.0.0\n\nrelease\n")
	signedCommit := source.Commit{Hash: strings.Repeat("a", 40), Ref: "refs/tags/v1.0.0", SignedPayload: payload, Signature: sign(payload)}
	unsignedCommit := source.Commit{Hash: strings.Repeat("b", 40), Ref: "refs/tags/v1.0.0"}
	signedTag := &source.Tag{Name: "v1.0.0", SignedPayload: tagPayload, Signature: sign(tagPayload)}
	replayed := signedCommit
	replayed.Ref = "refs/tags/v9.0.0"
	branch := signedCommit
	branch.Ref = "refs/heads/main"

	for _, tc := range []struct {
		name    string
		mode    v1.VerificationMode
		snap    source.Snapshot
		wantErr string
	}{
		{"HEAD is the default", "", source.Snapshot{Commit: signedCommit}, ""},
		{"HEAD unsigned", v1.VerifyHead, source.Snapshot{Commit: unsignedCommit}, "commit bbbbbbbbbbbb"},
		{"Tag signed", v1.VerifyTag, source.Snapshot{Commit: unsignedCommit, Tag: signedTag}, ""},
		{"Tag on a branch", v1.VerifyTag, source.Snapshot{Commit: branch}, "needs an annotated tag, and refs/heads/main is not one"},
		{"Tag replayed under another name", v1.VerifyTag, source.Snapshot{Commit: replayed, Tag: signedTag}, "tag v9.0.0 is the signed tag v1.0.0 published under another name"},
		{"TagAndHEAD with an unsigned commit", v1.VerifyTagAndHead, source.Snapshot{Commit: unsignedCommit, Tag: signedTag}, "commit bbbbbbbbbbbb"},
		{"TagAndHEAD both signed", v1.VerifyTagAndHead, source.Snapshot{Commit: signedCommit, Tag: signedTag}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := verify.Revision(keys, tc.mode, &tc.snap)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr == "" && !strings.HasPrefix(res.Key, "SSH:"):
				t.Fatalf("result = %+v, want the SSH key", res)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
			}
		})
	}
}
