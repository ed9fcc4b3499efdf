package reconcile_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/sopsfile"
)

// A SOPS-encrypted Secret is decrypted in memory and applied; its value
// reaches the cluster and nothing else: not the logs, events, status or the
// ledger. A Project that refuses plain Secrets lets it through and stops a
// plain one, naming the file.
func TestSOPSSecretsAreDecryptedAndNeverLeak(t *testing.T) {
	f := newRepo(t)
	key, err := sopsfile.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	value := "sops-" + strings.ToLower(f.ns) + "-pw"
	rotated := "rotated-" + strings.ToLower(f.ns) + "-pw"
	encrypt := func(v string) string {
		data, err := sopsfile.Encrypt("db.sops.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: "+v+"}\n"), key.Recipient, "^(data|stringData)$")
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if err := f.c.Create(testenv.Context(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-age", Namespace: f.ns},
		StringData: map[string]string{"team.agekey": key.Identity}}); err != nil {
		t.Fatal(err)
	}
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"**"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Secrets: &v1.SecretPolicy{RefusePlain: true}})
	first := f.commit(t, "the database password, encrypted", map[string]string{"app/db.sops.yaml": encrypt(value), "app/settings.yaml": configMapYAML})
	f.create(t, f.application("sealed", "app", func(a *v1.Application) {
		f.inProject(a)
		a.Spec.Source.Decryption = &v1.Decryption{SecretRef: v1.LocalObjectReference{Name: "sops-age"}}
	}))
	f.waitFor(t, "sealed", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	password := func() string {
		s := &corev1.Secret{}
		if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "db"}, s); err != nil {
			t.Fatal(err)
		}
		return string(s.Data["password"])
	}
	if got := password(); got != value {
		t.Fatalf("password in the cluster = %q, want the decrypted value", got)
	}
	second := f.commit(t, "rotate", map[string]string{"app/db.sops.yaml": encrypt(rotated)})
	f.refresh(t, "sealed")
	f.waitFor(t, "sealed", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	if got := password(); got != rotated {
		t.Fatalf("password after the rotation = %q", got)
	}

	plain := f.commit(t, "a plain Secret", map[string]string{"app/plain.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {token: " + value + "-plain}\n"})
	f.refresh(t, "sealed")
	app := f.waitFor(t, "sealed", metav1.ConditionFalse, v1.ReasonPolicyDenied, plain)
	if msg := readyMessage(app); !strings.Contains(msg, "Secret/"+f.ns+"/plain (app/plain.yaml): the Secret is not SOPS-encrypted in Git [spec.secrets.refusePlain]") {
		t.Errorf("message = %q", msg)
	}

	// Without the key, the sync fails and says why, and nothing changes.
	f.create(t, f.application("keyless", "app", nil))
	app = f.waitFor(t, "keyless", metav1.ConditionFalse, v1.ReasonRenderFailed, plain)
	if msg := readyMessage(app); !strings.Contains(msg, "app/db.sops.yaml: the file is SOPS-encrypted and no age key is configured") {
		t.Errorf("message = %q", msg)
	}

	places := f.everywhere(t, "sealed")
	places["keyless status"] = []byte(readyMessage(app))
	if !strings.Contains(string(places["controller logs"]), second) {
		t.Fatal("the search would find nothing: the logs lack the revision")
	}
	assertNowhere(t, places, value, rotated, key.Identity)
}
