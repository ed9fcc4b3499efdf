package verify_test

import (
	"bytes"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/source/verify"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// Verification runs on every pass: what one commit signature costs.
func BenchmarkVerify(b *testing.B) {
	pgp, err := gitserver.NewPGPKey("Merge Bot", "merge@git.internal")
	if err != nil {
		b.Fatal(err)
	}
	pub, err := pgp.ArmoredPublicKey()
	if err != nil {
		b.Fatal(err)
	}
	ssh, err := gitserver.NewSSHKey()
	if err != nil {
		b.Fatal(err)
	}
	keys := &verify.KeyRing{}
	if err := keys.Add("pgp", []byte(pub)); err != nil {
		b.Fatal(err)
	}
	if err := keys.Add("allowed_signers", []byte("merge@git.internal "+ssh.AuthorizedKey())); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sign func([]byte) ([]byte, error)
	}{
		{"PGP", func(m []byte) ([]byte, error) { return pgp.Sign(bytes.NewReader(m)) }},
		{"SSH", func(m []byte) ([]byte, error) { return ssh.Sign(bytes.NewReader(m)) }},
	} {
		sig, err := tc.sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := keys.Verify(payload, string(sig)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
