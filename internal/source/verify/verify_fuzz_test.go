package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"

	"github.com/lockstep-dev/lockstep/internal/source/verify"
)

// fuzzPayload is what testdata/fuzz-payload.{pgp,ssh}.sig sign, with the keys
// in testdata/fuzz-signer.asc and testdata/fuzz-allowed_signers.
var fuzzPayload = []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nrelease\n")

func readFixture(f *testing.F, name string) []byte {
	f.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzKeyRingAdd feeds a trusted-keys file (armored PGP public keys or
// allowed_signers lines) to KeyRing.Add. Invariants: a file that is accepted
// adds at least one key and at most the limit; for a file that holds no key
// syntax at all (the Secret named may hold anything, a password say), an
// error never repeats a long token of it; a ring built from any file verifies
// or refuses the fixed signatures without failing otherwise.
func FuzzKeyRingAdd(f *testing.F) {
	pgpPub := readFixture(f, "fuzz-signer.asc")
	allowed := readFixture(f, "fuzz-allowed_signers")
	f.Add(pgpPub)
	f.Add(allowed)
	f.Add(append(append([]byte("# team keys\n\n"), allowed...), pgpPub...))
	f.Add(bytes.SplitN(allowed, []byte(" "), 3)[2]) // a bare key, authorized_keys form
	f.Add([]byte("a@x,b@x cert-authority ssh-ed25519 AAAA\n"))
	f.Add([]byte("a@x valid-before=\"20300101\",namespaces=\"git,file\" ssh-rsa AAAA comment\n"))
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n"))
	f.Add([]byte("password=hunter2-very-secret-value\n"))
	pgpSig := string(readFixture(f, "fuzz-payload.pgp.sig"))
	sshSig := string(readFixture(f, "fuzz-payload.ssh.sig"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k verify.KeyRing
		err := k.Add("keys", data)
		if err != nil {
			if holdsKeySyntax(data) {
				return // errors may name an armor block's or a key's type
			}
			msg := strings.TrimPrefix(err.Error(), "keys")
			for _, token := range strings.Fields(string(data)) {
				if len(token) >= 16 && strings.Contains(msg, token) {
					t.Fatalf("error %q repeats %q from a file that holds no key", err, token)
				}
			}
			return
		}
		if k.Len() < 1 || k.Len() > 1000 {
			t.Fatalf("Len = %d after a successful Add", k.Len())
		}
		for _, sig := range []string{pgpSig, sshSig} {
			if _, err := k.Verify(fuzzPayload, sig); err != nil && !errors.Is(err, verify.ErrUntrusted) && !errors.Is(err, verify.ErrInvalid) {
				t.Fatalf("Verify: %v is neither ErrUntrusted nor ErrInvalid", err)
			}
		}
	})
}

// holdsKeySyntax reports whether data has an armored PGP block or a field
// naming an SSH key type: then the file is meant to hold keys, and the
// libraries' errors name the block's or the key's type.
func holdsKeySyntax(data []byte) bool {
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		return true
	}
	for _, field := range strings.Fields(string(data)) {
		for _, prefix := range []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"} {
			if strings.HasPrefix(field, prefix) {
				return true
			}
		}
	}
	return false
}

// FuzzVerify feeds a signature and a payload to a ring trusting one PGP and
// one SSH key. Invariants: every error wraps ErrUnsigned, ErrUntrusted or
// ErrInvalid; a signature verifies only over the payload it was made for, and
// names one of the trusted keys.
func FuzzVerify(f *testing.F) {
	pgpPub := readFixture(f, "fuzz-signer.asc")
	allowed := readFixture(f, "fuzz-allowed_signers")
	var k verify.KeyRing
	if err := k.Add("pgp", pgpPub); err != nil {
		f.Fatal(err)
	}
	if err := k.Add("ssh", allowed); err != nil {
		f.Fatal(err)
	}
	entities, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pgpPub))
	if err != nil {
		f.Fatal(err)
	}
	sshKey, _, _, _, err := ssh.ParseAuthorizedKey(bytes.SplitN(allowed, []byte(" "), 3)[2])
	if err != nil {
		f.Fatal(err)
	}
	trusted := map[string]bool{
		fmt.Sprintf("PGP:%X", entities[0].PrimaryKey.Fingerprint): true,
		"SSH:" + ssh.FingerprintSHA256(sshKey):                    true,
	}
	f.Add(fuzzPayload, string(readFixture(f, "fuzz-payload.pgp.sig")))
	f.Add(fuzzPayload, string(readFixture(f, "fuzz-payload.ssh.sig")))
	f.Add([]byte("tree 0\n\nother\n"), string(readFixture(f, "fuzz-payload.ssh.sig")))
	f.Add(fuzzPayload, "-----BEGIN PGP SIGNATURE-----\n\nwnUEABYKAB0WIQQ=\n-----END PGP SIGNATURE-----\n")
	f.Add(fuzzPayload, "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")
	f.Add(fuzzPayload, "-----BEGIN SIGNED MESSAGE-----\nMIIB\n-----END SIGNED MESSAGE-----\n")
	f.Add(fuzzPayload, "")
	f.Fuzz(func(t *testing.T, payload []byte, signature string) {
		res, err := k.Verify(payload, signature)
		if err != nil {
			if !errors.Is(err, verify.ErrUnsigned) && !errors.Is(err, verify.ErrUntrusted) && !errors.Is(err, verify.ErrInvalid) {
				t.Fatalf("Verify: %v wraps none of ErrUnsigned, ErrUntrusted, ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(payload, fuzzPayload) {
			t.Fatalf("a signature verified over a payload it was not made for: %q", payload)
		}
		if !trusted[res.Key] {
			t.Fatalf("verified by %q, which is not a trusted key", res.Key)
		}
	})
}
