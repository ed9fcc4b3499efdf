package verify_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/source/verify"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

var payload = []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nrelease\n")

func pgpKey(t *testing.T, email string) (*gitserver.PGPKey, string) {
	t.Helper()
	k, err := gitserver.NewPGPKey("Merge Bot", email)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, pub
}

func sshKey(t *testing.T) *gitserver.SSHKey {
	t.Helper()
	k, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t *testing.T, files ...string) *verify.KeyRing {
	t.Helper()
	k := &verify.KeyRing{}
	for _, f := range files {
		if err := k.Add("keys", []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func TestPGPSignatures(t *testing.T) {
	trusted, trustedPub := pgpKey(t, "merge@git.internal")
	_, otherPub := pgpKey(t, "other@git.internal")
	// Two armored blocks in one entry: both are trusted.
	k := ring(t, otherPub+"\n"+trustedPub)
	if k.Len() != 2 {
		t.Fatalf("Len = %d, want 2", k.Len())
	}
	sig, err := trusted.Sign(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.Verify(payload, string(sig))
	if err != nil {
		t.Fatal(err)
	}
	if res.Key != "PGP:"+trusted.Fingerprint() || res.Signer != "Merge Bot <merge@git.internal>" {
		t.Errorf("result = %+v, want key %s", res, trusted.Fingerprint())
	}
	// Tampered content.
	if _, err := k.Verify(append([]byte("x"), payload...), string(sig)); !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("tampered: %v, want ErrInvalid", err)
	}
	// A key not in the ring.
	only := ring(t, otherPub)
	if _, err := only.Verify(payload, string(sig)); !errors.Is(err, verify.ErrUntrusted) || !strings.Contains(err.Error(), trusted.Fingerprint()) {
		t.Errorf("untrusted: %v, want ErrUntrusted naming %s", err, trusted.Fingerprint())
	}
}

func TestSSHSignatures(t *testing.T) {
	trusted, other := sshKey(t), sshKey(t)
	k := ring(t, "# the merge key\n\nmerge@git.internal namespaces=\"git\" "+trusted.AuthorizedKey()+" merge key\n")
	sig, err := trusted.Sign(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.Verify(payload, string(sig))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Key, "SSH:SHA256:") || res.Signer != "merge@git.internal" {
		t.Errorf("result = %+v", res)
	}
	if _, err := k.Verify(payload[1:], string(sig)); !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("tampered: %v, want ErrInvalid", err)
	}
	otherSig, _ := other.Sign(bytes.NewReader(payload))
	if _, err := k.Verify(payload, string(otherSig)); !errors.Is(err, verify.ErrUntrusted) {
		t.Errorf("untrusted: %v, want ErrUntrusted", err)
	}
	// A key allowed for another namespace only does not sign commits.
	fileOnly := ring(t, "x@y namespaces=\"file\" "+trusted.AuthorizedKey())
	if _, err := fileOnly.Verify(payload, string(sig)); !errors.Is(err, verify.ErrUntrusted) {
		t.Errorf("namespace file: %v, want ErrUntrusted", err)
	}
	// A bare public key line is trusted for any principal.
	if _, err := ring(t, trusted.AuthorizedKey()).Verify(payload, string(sig)); err != nil {
		t.Errorf("bare key: %v", err)
	}
}

func TestMissingAndMalformedSignatures(t *testing.T) {
	_, pub := pgpKey(t, "a@x")
	k := ring(t, pub)
	for name, sig := range map[string]string{
		"empty":     "",
		"blank":     " \n",
		"garbage":   "hello",
		"x509":      "-----BEGIN SIGNED MESSAGE-----\nMIIB\n-----END SIGNED MESSAGE-----",
		"bad pgp":   "-----BEGIN PGP SIGNATURE-----\n\nnot base64!!\n-----END PGP SIGNATURE-----\n",
		"bad ssh":   "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
		"oversized": "-----BEGIN PGP SIGNATURE-----\n" + strings.Repeat("A", verify.MaxSignatureSize) + "\n-----END PGP SIGNATURE-----\n",
	} {
		_, err := k.Verify(payload, sig)
		if err == nil {
			t.Errorf("%s: verified", name)
			continue
		}
		if name == "empty" || name == "blank" {
			if !errors.Is(err, verify.ErrUnsigned) {
				t.Errorf("%s: %v, want ErrUnsigned", name, err)
			}
		} else if !errors.Is(err, verify.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestBadKeyFilesAreErrors(t *testing.T) {
	pgp, _ := gitserver.NewPGPKey("A", "a@x")
	var private bytes.Buffer
	if err := armorPrivate(&private, pgp); err != nil {
		t.Fatal(err)
	}
	ssh := sshKey(t)
	for name, data := range map[string]string{
		"empty":          "",
		"only comments":  "# nothing here\n",
		"garbage":        "this is not a key",
		"bad pgp block":  "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n-----END PGP PUBLIC KEY BLOCK-----\n",
		"private pgp":    private.String(),
		"cert authority": "*@x cert-authority " + ssh.AuthorizedKey(),
		"valid-before":   "a@x valid-before=20300101 " + ssh.AuthorizedKey(),
		"unknown option": "a@x frobnicate " + ssh.AuthorizedKey(),
		"truncated key":  "a@x ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
		"oversized":      strings.Repeat("#", verify.MaxKeyFileSize+1),
		"long line":      "a@x ssh-ed25519 " + strings.Repeat("A", 200000),
	} {
		k := &verify.KeyRing{}
		if err := k.Add(name, []byte(data)); err == nil {
			t.Errorf("%s: accepted (%d keys)", name, k.Len())
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the source", name, err)
		}
	}
}

// A key source that holds something else (a password Secret named by mistake,
// or on purpose) is refused without quoting any of it.
func TestKeyErrorsQuoteNothingOfTheSource(t *testing.T) {
	ssh := sshKey(t)
	for _, data := range []string{
		"db-user s3cr3t-value-x " + ssh.AuthorizedKey(),
		"s3cr3t-value-x",
		"user s3cr3t-value-x",
		"a@x ssh-ed25519 s3cr3t-value-x",
	} {
		err := (&verify.KeyRing{}).Add("Secret team/db key \"password\"", []byte(data))
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: error %v", data, err)
		}
	}
}
