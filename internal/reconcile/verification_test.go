package reconcile_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// signer is what signs a commit (gitserver.PGPKey, gitserver.SSHKey).
type signer interface {
	Sign(message io.Reader) ([]byte, error)
}

// tampering signs something other than the commit it is asked to sign: the
// signature is genuine and made with a trusted key, but over different
// content, as when a signed commit is altered afterwards.
type tampering struct{ key signer }

func (s tampering) Sign(message io.Reader) ([]byte, error) {
	data, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	return s.key.Sign(bytes.NewReader(bytes.Replace(data, []byte("tampered"), []byte("reviewed"), 1)))
}

// signedCommit commits files with a message, as author, signed by key (unsigned when nil).
func (f *repoFixture) signedCommit(t *testing.T, key signer, author gitserver.Person, message string, files map[string]string) string {
	t.Helper()
	data := map[string][]byte{}
	for k, v := range files {
		data[k] = []byte(v)
	}
	opts := gitserver.CommitOptions{Files: data, Message: message, Author: author}
	if key != nil {
		opts.Signer = key
	}
	h, err := f.repo.Commit(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var ada = gitserver.Person{Name: "Ada", Email: "ada@example.com"}

func settings(level string) map[string]string {
	return map[string]string{"app/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {LEVEL: " + level + "}\n"}
}

// keys stores trusted keys in a Secret or ConfigMap of the test's namespace.
func (f *repoFixture) keys(t *testing.T, kind, name string, data map[string]string) {
	t.Helper()
	var obj client.Object = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, StringData: data}
	if kind == "ConfigMap" {
		obj = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Data: data}
	}
	if err := f.c.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
}

func sshKey(t *testing.T) *gitserver.SSHKey {
	t.Helper()
	k, err := gitserver.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *repoFixture) level(t *testing.T) string {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data["LEVEL"]
}

// A Project that requires SSH signatures syncs a commit signed by a trusted
// key and refuses unsigned, untrusted and tampered ones, keeping the cluster
// at the last verified revision and recording each refusal.
func TestSSHSignedCommitsAreRequired(t *testing.T) {
	f := newRepo(t)
	merge, stranger := sshKey(t), sshKey(t)
	f.keys(t, "Secret", "trusted-keys", map[string]string{"allowed_signers": "merge@git.internal namespaces=\"git\" " + merge.AuthorizedKey() + "\n"})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Verification: &v1.Verification{KeysFrom: []v1.KeySource{{Name: "trusted-keys", Namespace: f.ns}}},
	})
	signed := f.signedCommit(t, merge, ada, "info level", settings("info"))
	f.create(t, f.application("signed", "app", f.inProject))
	app := f.waitFor(t, "signed", metav1.ConditionTrue, v1.ReasonSucceeded, signed)
	if r := app.Status.LastAppliedRevision; r == nil || !strings.HasPrefix(r.VerifiedBy, "SSH:SHA256:") || !strings.HasSuffix(r.VerifiedBy, "(merge@git.internal)") {
		t.Errorf("status does not say which key verified the revision: %+v", r)
	}
	recs := f.waitRecords(t, "signed", 1, audit.EventSync)
	if k := recs[0].Commit.TrustedKey; !strings.HasPrefix(k, "SSH:SHA256:") || k != recs[0].Commit.SignatureKey {
		t.Errorf("record's trusted key %q, signature key %q", k, recs[0].Commit.SignatureKey)
	}

	for _, tc := range []struct {
		name string
		key  signer
		want string
	}{
		{"unsigned", nil, "not signed"},
		{"untrusted", stranger, "signed with a key that is not trusted: SSH key SHA256:"},
		{"tampered", tampering{merge}, "signature does not verify"},
	} {
		head := f.signedCommit(t, tc.key, ada, tc.name+" debug level", settings("debug"))
		f.refresh(t, "signed")
		app = f.waitFor(t, "signed", metav1.ConditionFalse, v1.ReasonVerificationFailed, head)
		if msg := readyMessage(app); !strings.Contains(msg, "commit "+head[:12]+": "+tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.name, msg, tc.want)
		}
		if app.Status.LastAppliedRevision == nil || app.Status.LastAppliedRevision.Commit != signed {
			t.Errorf("%s: last applied %+v, want the verified %s", tc.name, app.Status.LastAppliedRevision, signed)
		}
		if got := f.level(t); got != "info" {
			t.Errorf("%s: LEVEL = %q: an unverified revision reached the cluster", tc.name, got)
		}
	}
	denied := f.waitRecords(t, "signed", 3, audit.EventDenied)
	for _, r := range denied {
		if r.Reason != v1.ReasonVerificationFailed || r.Commit == nil || r.Commit.TrustedKey != "" {
			t.Errorf("denial record %+v", r)
		}
	}
}

// PGP signatures, with the keys in a ConfigMap the Application names itself,
// and a signed tag followed by a semver range.
func TestPGPSignedCommitsAndTags(t *testing.T) {
	f := newRepo(t)
	release, err := gitserver.NewPGPKey("Release Bot", "release@git.internal")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := release.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	f.keys(t, "ConfigMap", "release-keys", map[string]string{"release.asc": pub})
	head := f.signedCommit(t, release, ada, "info level", settings("info"))
	f.create(t, f.application("pgp", "app", func(a *v1.Application) {
		a.Spec.Source.Git.Verify = &v1.Verification{KeysFrom: []v1.KeySource{{Kind: "ConfigMap", Name: "release-keys"}}}
	}))
	f.waitFor(t, "pgp", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	if recs := f.waitRecords(t, "pgp", 1, audit.EventSync); recs[0].Commit.TrustedKey != "PGP:"+release.Fingerprint() {
		t.Errorf("trusted key %q, want PGP:%s", recs[0].Commit.TrustedKey, release.Fingerprint())
	}

	// Tag mode: the commit may be unsigned, the tag must be signed.
	files := map[string]string{
		"t1/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t1}\n",
		"t2/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t2}\n",
	}
	unsigned := f.signedCommit(t, nil, ada, "two more folders", files)
	if err := f.repo.Tag("v1.0.0", unsigned, gitserver.TagOptions{Signer: release}); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Tag("v1.1.0", unsigned, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	f.create(t, f.application("tagged", "t1", func(a *v1.Application) {
		a.Spec.Source.Git.Ref = v1.GitRef{Tag: "v1.0.0"}
		a.Spec.Source.Git.Verify = &v1.Verification{Mode: v1.VerifyTag, KeysFrom: []v1.KeySource{{Kind: "ConfigMap", Name: "release-keys"}}}
	}))
	f.waitFor(t, "tagged", metav1.ConditionTrue, v1.ReasonSucceeded, unsigned)
	f.create(t, f.application("tagged-unsigned", "t2", func(a *v1.Application) {
		a.Spec.Source.Git.Ref = v1.GitRef{Semver: "^1"}
		a.Spec.Source.Git.Verify = &v1.Verification{Mode: v1.VerifyTag, KeysFrom: []v1.KeySource{{Kind: "ConfigMap", Name: "release-keys"}}}
	}))
	app := f.waitFor(t, "tagged-unsigned", metav1.ConditionFalse, v1.ReasonVerificationFailed, unsigned)
	if msg := readyMessage(app); !strings.Contains(msg, "tag v1.1.0: not signed") {
		t.Errorf("message = %q", msg)
	}
	// A signed tag pushed again under another name is refused.
	if err := f.repo.CopyTag("v1.0.0", "v2.0.0"); err != nil {
		t.Fatal(err)
	}
	f.create(t, f.application("replayed", "t1", func(a *v1.Application) {
		a.Spec.Source.Git.Ref = v1.GitRef{Tag: "v2.0.0"}
		a.Spec.Source.Git.Verify = &v1.Verification{Mode: v1.VerifyTag, KeysFrom: []v1.KeySource{{Kind: "ConfigMap", Name: "release-keys"}}}
	}))
	app = f.waitFor(t, "replayed", metav1.ConditionFalse, v1.ReasonVerificationFailed, unsigned)
	if msg := readyMessage(app); !strings.Contains(msg, "tag v2.0.0 is the signed tag v1.0.0 published under another name") {
		t.Errorf("message = %q", msg)
	}
	// An Application may not read keys from another namespace.
	f.create(t, f.application("foreign-keys", "app", func(a *v1.Application) {
		a.Spec.Source.Git.Verify = &v1.Verification{KeysFrom: []v1.KeySource{{Name: "keys", Namespace: "kube-system"}}}
	}))
	app = f.waitFor(t, "foreign-keys", metav1.ConditionFalse, v1.ReasonInvalidSpec, "")
	if msg := readyMessage(app); !strings.Contains(msg, "own namespace only") {
		t.Errorf("message = %q", msg)
	}
}

// The two-person rule: approvals count only on a commit signed by the merge
// key, the author's own approval does not count, and one person counts once.
func TestApprovalsTwoPersonRule(t *testing.T) {
	f := newRepo(t)
	merge := sshKey(t)
	f.keys(t, "Secret", "merge-key", map[string]string{"allowed_signers": "merge@git.internal " + merge.AuthorizedKey()})
	f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{"**"},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Approvals:    &v1.ApprovalPolicy{Required: 2, KeysFrom: []v1.KeySource{{Name: "merge-key", Namespace: f.ns}}},
	})
	approved := f.signedCommit(t, merge, ada, "info level\n\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n", settings("info"))
	f.create(t, f.application("reviewed", "app", f.inProject))
	f.waitFor(t, "reviewed", metav1.ConditionTrue, v1.ReasonSucceeded, approved)

	for _, tc := range []struct {
		name    string
		key     signer
		trailer string
		want    string
	}{
		{"author approves", merge, "Approved-by: Ada <ADA@example.com>\nApproved-by: Bob <bob@example.com>", "has 1 (Bob <bob@example.com>); the author's own approval does not count"},
		{"one person twice", merge, "Approved-by: Bob <bob@example.com>\nApproved-by: Robert <BOB@example.com>", "needs 2 distinct approvers other than the author, has 1"},
		{"unsigned", nil, "Approved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>", "count only on a commit signed by an approval key; this commit is not"},
		{"signed by a stranger", sshKey(t), "Approved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>", "this commit is not"},
	} {
		head := f.signedCommit(t, tc.key, ada, tc.name+"\n\n"+tc.trailer+"\n", settings("debug"))
		f.refresh(t, "reviewed")
		app := f.waitFor(t, "reviewed", metav1.ConditionFalse, v1.ReasonPolicyDenied, head)
		if msg := readyMessage(app); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "[spec.approvals]") {
			t.Errorf("%s: message %q lacks %q", tc.name, msg, tc.want)
		}
		if got := f.level(t); got != "info" {
			t.Errorf("%s: LEVEL = %q: an unapproved revision reached the cluster", tc.name, got)
		}
	}
	// A developer's key trusted for verification does not vouch for trailers:
	// she could sign approvals naming anyone.
	dev := sshKey(t)
	f.keys(t, "Secret", "signers", map[string]string{"allowed_signers": "ada@example.com " + dev.AuthorizedKey() + "\nmerge@git.internal " + merge.AuthorizedKey()})
	f.updateProject(t, func(p *v1.ProjectSpec) {
		p.Verification = &v1.Verification{KeysFrom: []v1.KeySource{{Name: "signers", Namespace: f.ns}}}
	})
	selfSigned := f.signedCommit(t, dev, ada, "self-approved\n\nApproved-by: Bob <bob@example.com>\nApproved-by: Carol <carol@example.com>\n", settings("debug"))
	f.refresh(t, "reviewed")
	app := f.waitFor(t, "reviewed", metav1.ConditionFalse, v1.ReasonPolicyDenied, selfSigned)
	if msg := readyMessage(app); !strings.Contains(msg, "count only on a commit signed by an approval key; this commit is not") {
		t.Errorf("trailers signed by a verification key: message %q", msg)
	}
	again := f.signedCommit(t, merge, ada, "debug level\n\nApproved-by: Carol <carol@example.com>\nApproved-by: Dan <dan@example.com>\n", settings("debug"))
	f.refresh(t, "reviewed")
	f.waitFor(t, "reviewed", metav1.ConditionTrue, v1.ReasonSucceeded, again)
	if got := f.level(t); got != "debug" {
		t.Errorf("LEVEL = %q after an approved commit", got)
	}
}
