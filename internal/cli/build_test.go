package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/testenv/sopsfile"
)

func TestBuildRendersLikeTheController(t *testing.T) {
	out, err := run(t, "build", "../../examples/webapp/overlays/stage")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, want := range []string{"kind: Deployment", "namespace: webapp-stage", "replicas: 2", "LOG_LEVEL: info"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "build", "../../examples/webapp/chart", "-n", "team", "--release-name", "rel")
	if err != nil || !strings.Contains(out, "name: rel-config") {
		t.Errorf("build of the chart: %v\n%s", err, out)
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "build", dir); err == nil || !strings.Contains(err.Error(), "bad.yaml:4") {
		t.Errorf("build of malformed YAML: err = %v, want file:line", err)
	}
	if _, err := run(t, "build", filepath.Join(dir, "missing")); err == nil {
		t.Error("build of a missing folder succeeded")
	}
	if _, err := run(t, "build", dir, "--substitute", "NOEQUALS"); err == nil || !strings.Contains(err.Error(), "want NAME=VALUE") {
		t.Errorf("bad --substitute: err = %v", err)
	}
}

func TestBuildDecryptsSOPSAndMasksTheValues(t *testing.T) {
	key, err := sopsfile.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-plaintext\n")
	enc, err := sopsfile.Encrypt("secret.yaml", plain, key.Recipient, "^(data|stringData)$")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(filepath.Join(dir, "secret.yaml"), enc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("# test key\n"+key.Identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := run(t, "build", dir, "--age-key-file", ""); err == nil {
		t.Error("build of an encrypted file without a key succeeded")
	}
	out, err := run(t, "build", dir, "--age-key-file", keyFile)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "password: '***'") {
		t.Errorf("decrypted value not masked:\n%s", out)
	}
	out, err = run(t, "build", dir, "--age-key-file", keyFile, "--show-secrets")
	if err != nil || !strings.Contains(out, "password: hunter2-plaintext") {
		t.Errorf("--show-secrets: %v\n%s", err, out)
	}
	if _, err := run(t, "build", dir, "--age-key-file", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--age-key-file") {
		t.Errorf("missing key file: err = %v", err)
	}
}
