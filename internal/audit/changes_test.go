package audit_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

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

func TestScrubberHidesExtraValuesAndTheirEscapedForms(t *testing.T) {
	s := audit.NewScrubber(nil, "hunter2-long", "line one\nline two", "ab")
	for _, text := range []string{
		"bad password hunter2-long",
		`cert "line one\nline two"`,
		"base64 " + base64.StdEncoding.EncodeToString([]byte("hunter2-long")),
	} {
		got := s.Scrub(text)
		if strings.Contains(got, "hunter2") || strings.Contains(got, "line one") || strings.Contains(got, "aHVudGVy") {
			t.Errorf("Scrub(%q) = %q", text, got)
		}
	}
	if got := s.Scrub("about"); got != "about" {
		t.Errorf("a value shorter than MinSecretLen was scrubbed: %q", got)
	}
}

// Values of 6 to 11 characters are hidden inside longer words too, and a
// value with <, > or & is hidden in the form JSON escapes it to.
func TestScrubberHidesShortValuesInsideTextAndJSONEscapes(t *testing.T) {
	s := audit.NewScrubber(nil, "pw6chr", "elevenchars", "a<b>&c-token")
	in, _ := json.Marshal(map[string]string{"msg": "prefix-pw6chr-suffix xelevencharsx a<b>&c-token"})
	got := s.Scrub(string(in))
	for _, leaked := range []string{"pw6chr", "elevenchars", `a\u003cb\u003e\u0026c-token`, "a<b>&c"} {
		if strings.Contains(got, leaked) {
			t.Errorf("%q leaked in %s", leaked, got)
		}
	}
}
