package engine_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	render "github.com/lockstep-dev/lockstep/internal/render/engine"
	"github.com/lockstep-dev/lockstep/internal/testenv/sopsfile"
)

const plainSecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cr3t-horse-battery\n"

func encrypted(t *testing.T, name, plain, recipient string) *fstest.MapFile {
	t.Helper()
	data, err := sopsfile.Encrypt(name, []byte(plain), recipient, "^(data|stringData)$")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cr3t-horse-battery") {
		t.Fatal("the encrypted file holds the plaintext")
	}
	return &fstest.MapFile{Data: data}
}

func ageKey(t *testing.T) sopsfile.Key {
	t.Helper()
	k, err := sopsfile.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func password(t *testing.T, res *render.Result, name string) (string, render.Origin) {
	t.Helper()
	for i, o := range res.Objects {
		if o.GetKind() == "Secret" && o.GetName() == name {
			v, _, _ := unstructured.NestedString(o.Object, "stringData", "password")
			if _, ok := o.Object["sops"]; ok {
				t.Errorf("%s keeps its sops metadata", name)
			}
			return v, res.Origins[i]
		}
	}
	t.Fatalf("no Secret %s in %v", name, ids(res.Objects))
	return "", render.Origin{}
}

// SOPS files are decrypted in memory for plain YAML and Kustomize, and marked
// as encrypted; a plain file next to them is not.
func TestSOPSFilesAreDecrypted(t *testing.T) {
	key, other := ageKey(t), ageKey(t)
	opts := render.Options{AgeIdentities: "# the team's key\n" + other.Identity + "\n" + key.Identity + "\n"}
	plain := fstest.MapFS{
		"app/db.sops.yaml": encrypted(t, "db.sops.yaml", plainSecret, key.Recipient),
		"app/cm.yaml":      file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
	}
	res := renderOK(t, plain, "app", opts)
	if got, origin := password(t, res, "db"); got != "s3cr3t-horse-battery" || !origin.Encrypted || origin.File != "app/db.sops.yaml" {
		t.Errorf("password %q, origin %+v", got, origin)
	}
	for i, o := range res.Objects {
		if o.GetKind() == "ConfigMap" && res.Origins[i].Encrypted {
			t.Error("the plain ConfigMap is marked encrypted")
		}
	}
	json := fstest.MapFS{"app/db.json": encrypted(t, "db.json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"s3cr3t-horse-battery"}}`, key.Recipient)}
	if got, _ := password(t, renderOK(t, json, "app", opts), "db"); got != "s3cr3t-horse-battery" {
		t.Errorf("JSON: password %q", got)
	}
	kustomize := fstest.MapFS{
		"k/kustomization.yaml": file("resources: [db.sops.yaml]\nnamePrefix: team-\n"),
		"k/db.sops.yaml":       encrypted(t, "db.sops.yaml", plainSecret, key.Recipient),
	}
	if got, origin := password(t, renderOK(t, kustomize, "k", opts), "team-db"); got != "s3cr3t-horse-battery" || !origin.Encrypted || origin.File != "k/db.sops.yaml" {
		t.Errorf("Kustomize: password %q, origin %+v", got, origin)
	}
}

// Every failure names the file and says what is wrong, and never holds a value.
func TestSOPSFailuresAreClearAndLeakNothing(t *testing.T) {
	key, stranger := ageKey(t), ageKey(t)
	good := encrypted(t, "db.sops.yaml", plainSecret, key.Recipient)
	tampered := strings.Replace(string(good.Data), "name: db", "name: dbx", 1)
	for _, tc := range []struct {
		name       string
		data       string
		identities string
		want       string
	}{
		{"no key", string(good.Data), "", "no age key is configured"},
		{"wrong key", string(good.Data), stranger.Identity, "no configured age key decrypts the SOPS file (recipients " + key.Recipient + ")"},
		{"tampered", tampered, key.Identity, "MAC does not match"},
		{"damaged value", strings.Replace(string(good.Data), "ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AAAA", 1), key.Identity, "app/db.sops.yaml"},
		{"bad identity", string(good.Data), "AGE-SECRET-KEY-1NOTAKEY", "not a valid age identity"},
		{"not a Secret", string(encrypted(t, "cm.sops.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {password: s3cr3t-horse-battery}\n", key.Recipient).Data), key.Identity, "ConfigMap/c: SOPS-encrypted files may hold Secrets only"},
		{"truncated metadata", strings.Split(string(good.Data), "    lastmodified")[0], key.Identity, "app/db.sops.yaml"},
	} {
		fsys := fstest.MapFS{"app/db.sops.yaml": file(tc.data)}
		_, err := render.Render(t.Context(), fsys, "app", render.Options{AgeIdentities: tc.identities})
		if err == nil {
			t.Errorf("%s: rendered", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q lacks %q", tc.name, err, tc.want)
		}
		if tc.name == "no key" && !errors.Is(err, render.ErrNoDecryptionKey) {
			t.Errorf("no key: %v is not ErrNoDecryptionKey", err)
		}
		for _, secret := range []string{"s3cr3t-horse-battery", key.Identity, stranger.Identity} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error holds a secret: %v", tc.name, err)
			}
		}
	}
}

// Decrypted values may reach the cluster only as the values of their own
// file's Secrets. Kustomize's copying features are refused when decryption
// keys are configured (a ConfigMap generator reading a SOPS file, a
// replacement from a Secret into another kind); any other object holding a
// decrypted value fails the render, naming the object, field and file, never
// the value. Values that merely resemble a decrypted one are left alone.
func TestDecryptedValuesCannotBeCopiedOutOfTheirSecrets(t *testing.T) {
	key := ageKey(t)
	opts := render.Options{AgeIdentities: key.Identity}
	db := encrypted(t, "db.sops.yaml", plainSecret, key.Recipient)
	for name, tc := range map[string]struct{ kustomization, cm, want string }{
		"replacement": {`resources: [db.sops.yaml, cm.yaml]
replacements:
- source: {kind: Secret, name: db, fieldPath: stringData.password, options: {delimiter: "-", index: 0}}
  targets: [{select: {kind: ConfigMap, name: c}, fieldPaths: [data.copied]}]
`, "placeholder", "a replacement copies from Secret into another kind"},
		"replacement from any kind": {`resources: [db.sops.yaml, cm.yaml]
replacements:
- source: {name: db, fieldPath: stringData.password}
  targets: [{select: {name: c}, fieldPaths: [data.copied]}]
`, "placeholder", "a replacement copies from an object of any kind into another kind"},
		"replacement transformer": {`resources: [db.sops.yaml, cm.yaml]
transformers: [copy.yaml]
`, "placeholder", "a replacement copies from Secret into another kind"},
		"var from a Secret": {`resources: [db.sops.yaml, cm.yaml]
vars:
- name: PW
  objref: {kind: Secret, name: db, apiVersion: v1}
  fieldref: {fieldpath: stringData.password}
`, "placeholder", "var PW reads from Secret"},
		"generator":         {"resources: [db.sops.yaml]\nconfigMapGenerator: [{name: leak, files: [db.sops.yaml]}]\n", "placeholder", "configMapGenerator leak reads the SOPS-encrypted db.sops.yaml"},
		"plain copy":        {"resources: [db.sops.yaml, cm.yaml]\n", "s3cr3t-horse-battery", "ConfigMap/c: data.copied holds a value decrypted from k/db.sops.yaml"},
		"embedded in a URL": {"resources: [db.sops.yaml, cm.yaml]\n", "postgres://app:s3cr3t-horse-battery@db", "ConfigMap/c: data.copied holds a value decrypted from k/db.sops.yaml"},
	} {
		fsys := fstest.MapFS{
			"k/kustomization.yaml": file(tc.kustomization),
			"k/db.sops.yaml":       db,
			"k/cm.yaml":            file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {copied: \"" + tc.cm + "\"}\n"),
			"k/copy.yaml": file(`apiVersion: builtin
kind: ReplacementTransformer
metadata: {name: copy}
replacements:
- source: {kind: Secret, name: db, fieldPath: stringData.password}
  targets: [{select: {kind: ConfigMap, name: c}, fieldPaths: [data.copied]}]
`),
		}
		_, err := render.Render(t.Context(), fsys, "k", opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: err = %v", name, err)
		}
	}

	// The whole file encrypted (kind, name and all) and a value that is also
	// a word elsewhere: nothing is refused.
	whole, err := sopsfile.Encrypt("db.sops.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {POSTGRES_USER: postgres, optional: \"\"}\n"), key.Recipient, "")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"app/db.sops.yaml": file(string(whole)),
		"app/db.yaml": file(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      imagePullSecrets: [{name: db}]
      containers: [{name: db, image: "postgres:16", env: [{name: USER, valueFrom: {secretKeyRef: {name: db, key: POSTGRES_USER}}}]}]
`),
	}
	res := renderOK(t, fsys, "app", opts)
	for i, o := range res.Objects {
		if o.GetKind() == "Secret" && !res.Origins[i].Encrypted {
			t.Error("a wholly encrypted Secret with an empty value is not marked encrypted")
		}
	}
}

// A Secret counts as encrypted only when every value of it was ciphertext in
// Git: not when the file's encryption matched none of its values, nor when a
// generator claims the encrypted file as its origin.
func TestOnlyCiphertextValuesMakeAnEncryptedSecret(t *testing.T) {
	key := ageKey(t)
	opts := render.Options{AgeIdentities: key.Identity}
	partly, err := sopsfile.Encrypt("db.sops.yaml", []byte(plainSecret), key.Recipient, "^metadata$")
	if err != nil {
		t.Fatal(err)
	}
	if _, origin := password(t, renderOK(t, fstest.MapFS{"app/db.sops.yaml": file(string(partly))}, "app", opts), "db"); origin.Encrypted {
		t.Error("a Secret whose values were plain text in Git is marked encrypted")
	}
	spoof := fstest.MapFS{
		"k/kustomization.yaml": file(`resources: [db.sops.yaml]
secretGenerator:
- name: plain
  literals: [password=in-clear-text]
  options: {disableNameSuffixHash: true, annotations: {config.kubernetes.io/origin: "path: db.sops.yaml"}}
`),
		"k/db.sops.yaml": encrypted(t, "db.sops.yaml", plainSecret, key.Recipient),
	}
	res := renderOK(t, spoof, "k", opts)
	for i, o := range res.Objects {
		if want := o.GetName() == "db"; res.Origins[i].Encrypted != want {
			t.Errorf("%s: encrypted = %v, want %v", o.GetName(), res.Origins[i].Encrypted, want)
		}
	}
}

// Helm charts and Jsonnet are not decrypted (a template can transform a value
// past any check); a render error quoting a decrypted document is scrubbed.
func TestSOPSOnlyInManifestsAndErrorsScrubbed(t *testing.T) {
	key := ageKey(t)
	opts := render.Options{AgeIdentities: key.Identity}
	values, err := sopsfile.Encrypt("secrets.sops.yaml", []byte("password: s3cr3t-horse-battery\n"), key.Recipient, "")
	if err != nil {
		t.Fatal(err)
	}
	chart := fstest.MapFS{
		"c/Chart.yaml":        file("apiVersion: v2\nname: c\nversion: 0.1.0\n"),
		"c/secrets.sops.yaml": file(string(values)),
		"c/templates/cm.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
	}
	if _, err := render.Render(t.Context(), chart, "c", opts); !errors.Is(err, render.ErrDecryptionNotHere) {
		t.Errorf("a chart with a SOPS file: err = %v", err)
	}
	// A file that only looks like one is not refused.
	delete(chart, "c/secrets.sops.yaml")
	chart["c/values.schema.json"] = file(`{"type": "object", "properties": {"sops": {"type": "string", "description": "ENC[AES256_GCM, is what a SOPS value starts with"}}}`)
	helmOpts := opts
	helmOpts.Helm.ReleaseName = "c"
	renderOK(t, chart, "c", helmOpts)
	noKind := "apiVersion: v1\nmetadata: {name: db}\nstringData: {password: s3cr3t-horse-battery}\n"
	fsys := fstest.MapFS{"app/db.sops.yaml": encrypted(t, "db.sops.yaml", noKind, key.Recipient)}
	_, err = render.Render(t.Context(), fsys, "app", opts)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "app/db.sops.yaml") {
		t.Errorf("a decrypted document that is not an object: err = %v", err)
	}
}
