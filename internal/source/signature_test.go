package source_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"

	"github.com/lockstep-dev/lockstep/internal/source"
)

func TestTickets(t *testing.T) {
	msg := "Raise memory for OPS-1234 (see #45)\n\nFixes PAY-7, relates to OPS-1234.\nUses SHA-256 and UTF-8; not a/b#9 or foo-BAR-3.\nApproved-by: Lead <lead@example.com>"
	want := []string{"OPS-1234", "#45", "PAY-7"}
	if got := source.Tickets(msg); !slices.Equal(got, want) {
		t.Fatalf("Tickets = %v, want %v", got, want)
	}
	if got := source.Tickets(strings.Repeat("#1 ", 10000)); len(got) != 1 {
		t.Fatalf("repeated ticket: %v", got)
	}
}

func TestSignatureKeyOfPGPSignature(t *testing.T) {
	e, err := openpgp.NewEntity("Merge bot", "", "merge@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, e, strings.NewReader("tree 123\n"), nil); err != nil {
		t.Fatal(err)
	}
	got := source.SignatureKey(sig.String())
	if want := "PGP:" + strings.ToUpper(e.PrimaryKey.KeyIdString()); !strings.HasPrefix(got, "PGP:") || !strings.HasSuffix(got, want[4:]) {
		t.Fatalf("SignatureKey = %q, want the fingerprint ending in %s", got, want[4:])
	}
}

func TestSignatureKeyOfSSHSignature(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("SSHSIG")
	blob = binary.BigEndian.AppendUint32(blob, 1)
	blob = binary.BigEndian.AppendUint32(blob, uint32(len(key.Marshal())))
	blob = append(blob, key.Marshal()...)
	armored := "-----BEGIN SSH SIGNATURE-----\n" + base64.StdEncoding.EncodeToString(blob) + "\n-----END SSH SIGNATURE-----\n"
	if got, want := source.SignatureKey(armored), "SSH:"+ssh.FingerprintSHA256(key); got != want {
		t.Fatalf("SignatureKey = %q, want %q", got, want)
	}
}

func TestSignatureKeyOfGarbage(t *testing.T) {
	for _, sig := range []string{
		"", "not a signature",
		"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\n" + base64.StdEncoding.EncodeToString([]byte("SSHSIG\x00\x00\x00\x01\xff\xff\xff\xff")) + "\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----",
	} {
		if got := source.SignatureKey(sig); got != "" {
			t.Errorf("SignatureKey(%q) = %q", sig, got)
		}
	}
}
