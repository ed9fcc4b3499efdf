package audit_test

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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

func TestFieldChangesCarryCompactValues(t *testing.T) {
	before := mustObject(t, "apiVersion: v1\nkind: ConfigMap\ndata: {a: '1', labels.x: old}\nmetadata: {name: c}")
	after := mustObject(t, "apiVersion: v1\nkind: ConfigMap\ndata: {a: '2', labels.x: new, big: "+strings.Repeat("x", 500)+"}\nmetadata: {name: c}")
	got := audit.FieldChanges(before, after, []string{"data.a", "data[labels.x]", "data.big", "data.missing"})
	if got[0] != (audit.FieldChange{Path: "data.a", From: `"1"`, To: `"2"`}) || got[1].From != `"old"` || got[1].To != `"new"` {
		t.Fatalf("%+v", got)
	}
	if got[2].From != "" || len(got[2].To) > audit.MaxValueLen+len("…") || !strings.HasSuffix(got[2].To, "…") {
		t.Fatalf("long value not cut: %q", got[2].To)
	}
	if got[3].From != "" || got[3].To != "" {
		t.Fatalf("missing path has values: %+v", got[3])
	}
}

func TestFieldChangesNeverHoldSecretValues(t *testing.T) {
	before := mustObject(t, "apiVersion: v1\nkind: Secret\ndata: {password: b2xkcGFzcw==}\nmetadata: {name: s}")
	after := mustObject(t, "apiVersion: v1\nkind: Secret\ndata: {password: bmV3cGFzcw==}\nmetadata: {name: s}")
	for _, fc := range audit.FieldChanges(before, after, []string{"data.password", "data"}) {
		if fc.From != "" || fc.To != audit.SecretValue {
			t.Fatalf("%+v", fc)
		}
	}
	// A CRD named Secret in another group is not a Secret.
	other := mustObject(t, "apiVersion: example.com/v1\nkind: Secret\nspec: {a: b}\nmetadata: {name: s}")
	if fc := audit.FieldChanges(nil, other, []string{"spec.a"}); fc[0].To != `"b"` {
		t.Fatalf("%+v", fc)
	}
}

func TestRollsOut(t *testing.T) {
	for _, tc := range []struct {
		group, kind string
		paths       []string
		want        bool
	}{
		{"apps", "Deployment", []string{"spec.replicas"}, false},
		{"apps", "Deployment", []string{"spec.replicas", "spec.template.spec.containers[0].image"}, true},
		{"apps", "StatefulSet", []string{"spec.template"}, true},
		{"apps", "Deployment", []string{"spec.templateX"}, false},
		{"batch", "CronJob", []string{"spec.jobTemplate.spec.template.spec.containers[0].image"}, true},
		{"", "ConfigMap", []string{"spec.template"}, false},
	} {
		if got := audit.RollsOut(tc.group, tc.kind, tc.paths); got != tc.want {
			t.Errorf("%s/%s %v: %v", tc.group, tc.kind, tc.paths, got)
		}
	}
}

func TestTickets(t *testing.T) {
	msg := "Raise memory for OPS-1234 (see #45)\n\nFixes PAY-7, relates to OPS-1234.\nUses SHA-256 and UTF-8; not a/b#9 or foo-BAR-3.\nApproved-by: Lead <lead@example.com>"
	want := []string{"OPS-1234", "#45", "PAY-7"}
	if got := audit.Tickets(msg); !slices.Equal(got, want) {
		t.Fatalf("Tickets = %v, want %v", got, want)
	}
	if got := audit.Tickets(strings.Repeat("#1 ", 10000)); len(got) != 1 {
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
	got := audit.SignatureKey(sig.String())
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
	if got, want := audit.SignatureKey(armored), "SSH:"+ssh.FingerprintSHA256(key); got != want {
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
		if got := audit.SignatureKey(sig); got != "" {
			t.Errorf("SignatureKey(%q) = %q", sig, got)
		}
	}
}

func TestScrubberHidesSecretValues(t *testing.T) {
	secret := mustObject(t, `
apiVersion: v1
kind: Secret
metadata: {name: db}
data: {password: aHVudGVyMjI=, short: eA==}
stringData: {token: s3cr3t-token}
`)
	cm := mustObject(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {plain: visible-value}")
	s := audit.NewScrubber(nil)
	if s.Scrub("hunter22") != "hunter22" {
		t.Fatal("empty scrubber changed text")
	}
	s = audit.NewScrubber([]*unstructured.Unstructured{secret, cm})
	in := `Secret "db" is invalid: data[password]: "hunter22" (aHVudGVyMjI=), token s3cr3t-token / ` +
		base64.StdEncoding.EncodeToString([]byte("s3cr3t-token")) + `; x stays; visible-value stays`
	out := s.Scrub(in)
	for _, leaked := range []string{"hunter22", "aHVudGVyMjI=", "s3cr3t-token", base64.StdEncoding.EncodeToString([]byte("s3cr3t-token"))} {
		if strings.Contains(out, leaked) {
			t.Fatalf("%q leaked in %q", leaked, out)
		}
	}
	if !strings.Contains(out, "visible-value stays") || !strings.Contains(out, "x stays") {
		t.Fatalf("scrubbed too much: %q", out)
	}
}
