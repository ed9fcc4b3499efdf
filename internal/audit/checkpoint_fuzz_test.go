package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// FuzzParsePublicKey feeds a ledger public key (the publicKey parameter of GET
// /api/v1/verify, or `audit verify --public-key`) to ParsePublicKey.
// Invariants: an accepted key is an ed25519 public key that reads back the
// same from both forms ParsePublicKey takes, PEM and base64.
func FuzzParsePublicKey(f *testing.F) {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	pemKey, err := audit.MarshalPublicKey(pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pemKey)
	f.Add([]byte(base64.StdEncoding.EncodeToString(pub) + "\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := audit.ParsePublicKey(data)
		if err != nil {
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("accepted a key of %d bytes", len(key))
		}
		p, err := audit.MarshalPublicKey(key)
		if err != nil {
			t.Fatalf("an accepted key does not marshal: %v", err)
		}
		for _, form := range [][]byte{p, []byte(base64.StdEncoding.EncodeToString(key))} {
			again, err := audit.ParsePublicKey(form)
			if err != nil || !again.Equal(key) {
				t.Fatalf("the key written as %q reads back as %x, %v; want %x", form, again, err, key)
			}
		}
	})
}
