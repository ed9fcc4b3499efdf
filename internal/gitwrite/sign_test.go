package gitwrite_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"golang.org/x/crypto/ssh"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
	"github.com/lockstep-dev/lockstep/internal/source/verify"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// armoredPrivate is k's private key as gpg --armor --export-secret-keys
// writes it; encrypted keys are written as they are, unsigned.
func armoredPrivate(t *testing.T, k *gitserver.PGPKey) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Entity.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A commit signed by gitwrite verifies with Lockstep's own verifier, as the
// source stage reads it back, for an SSH key and for an OpenPGP key; its
// trailers read back as written.
func TestSignedCommitsVerify(t *testing.T) {
	sshKey, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	pgpKey, err := gitserver.NewPGPKey("Lockstep", "lockstep@example.com")
	if err != nil {
		t.Fatal(err)
	}
	pgpPublic, err := pgpKey.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		private, trusted []byte
		wantKey          string
	}{
		{"SSH", sshKey.PrivateKeyPEM, []byte(`lockstep@example.com namespaces="git" ` + sshKey.AuthorizedKey()), "SSH:" + ssh.FingerprintSHA256(sshKey.Signer.PublicKey())},
		{"PGP", armoredPrivate(t, pgpKey), []byte(pgpPublic), "PGP:" + pgpKey.Fingerprint()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url, seed := seeded(t, map[string][]byte{"apps/web/a.yaml": []byte("a1\n")})
			key, err := gitwrite.ParseSigningKey(tc.private)
			if err != nil {
				t.Fatal(err)
			}
			if key.ID() != tc.wantKey {
				t.Errorf("ID() = %s, want %s", key.ID(), tc.wantKey)
			}
			msg, err := gitwrite.Message("Roll back web", "Restores apps/web.", source.Trailer{Key: "Lockstep-Rollback-To", Value: seed})
			if err != nil {
				t.Fatal(err)
			}
			req := request(url, func(tr *gitwrite.Tree) error { return tr.WriteFile("apps/web/a.yaml", []byte("a2\n")) })
			req.Message, req.Signer = msg, key
			res, err := gitwrite.Write(context.Background(), req, gitwrite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := source.NewCache(t.TempDir()).Fetch(context.Background(), source.Request{URL: url, Ref: source.Ref{Branch: "main"}, Auth: writer}, source.FetchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if snap.Commit.Hash != res.Commit {
				t.Fatalf("fetched %s, wrote %s", snap.Commit.Hash, res.Commit)
			}
			for name, trusted := range map[string][]byte{"the key": tc.trusted, "PublicKey()": []byte(key.PublicKey())} {
				keys := &verify.KeyRing{}
				if err := keys.Add(name, trusted); err != nil {
					t.Fatal(err)
				}
				got, err := verify.Revision(keys, "", snap)
				if err != nil || got.Key != tc.wantKey {
					t.Errorf("verifying with %s: %+v, %v; want key %s", name, got, err, tc.wantKey)
				}
			}
			if got := snap.Commit.TrailerValues("Lockstep-Rollback-To"); len(got) != 1 || got[0] != seed {
				t.Errorf("trailers %v, want Lockstep-Rollback-To: %s", snap.Commit.Trailers, seed)
			}
		})
	}
}

// What cannot sign says why and what to give instead.
func TestParseSigningKeyRefuses(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	locked, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pgp, err := gitserver.NewPGPKey("A", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	pgpPublic, err := pgp.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := gitserver.NewPGPKey("B", "b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	two := append(armoredPrivate(t, pgp), armoredPrivate(t, other)...)
	lockedPGP, err := gitserver.NewPGPKey("C", "c@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := lockedPGP.Entity.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":                {nil, "neither an SSH private key"},
		"garbage":              {[]byte("not a key"), "neither an SSH private key"},
		"an SSH public key":    {ssh.MarshalAuthorizedKey(sshPub), "this is an SSH public key"},
		"a PGP public key":     {[]byte(pgpPublic), "this is an OpenPGP public key"},
		"an SSH passphrase":    {pem.EncodeToMemory(locked), "protected by a passphrase"},
		"a PGP passphrase":     {armoredPrivate(t, lockedPGP), "protected by a passphrase"},
		"a broken SSH key":     {[]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "reading the SSH private key"},
		"a broken PGP key":     {[]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n!!!\n-----END PGP PRIVATE KEY BLOCK-----\n"), "reading the OpenPGP private key"},
		"two PGP keys":         {two, "2 OpenPGP key blocks"},
		"a truncated SSH file": {pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("openssh-key-v1\x00")}), "reading the SSH private key"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := gitwrite.ParseSigningKey(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "signing key: ") {
				t.Errorf("%v, want a signing key error with %q", err, tc.want)
			}
		})
	}
}

type failingSigner struct{}

func (failingSigner) Sign(io.Reader) ([]byte, error) { return nil, errors.New("the card is out") }

// A signer that fails fails the write, saying so, and nothing is pushed.
func TestFailingSignerWritesNothing(t *testing.T) {
	repo, url, head := seeded(t, map[string][]byte{"README.md": []byte("hi\n")})
	req := request(url, func(tr *gitwrite.Tree) error { return tr.WriteFile("a.yaml", []byte("a\n")) })
	req.Signer = failingSigner{}
	_, err := gitwrite.Write(context.Background(), req, gitwrite.Options{})
	if err == nil || !strings.Contains(err.Error(), "signing the commit: the card is out: check the signing key") {
		t.Errorf("%v, want the signer's failure", err)
	}
	if now, _ := repo.Head("main"); now != head {
		t.Errorf("main moved to %s", now)
	}
}
