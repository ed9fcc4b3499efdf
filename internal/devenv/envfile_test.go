package devenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Values in the env file survive a real shell unchanged, whatever they hold.
func TestEnvFileQuotesHostileValues(t *testing.T) {
	vars := []Var{
		{Name: "PLAIN", Value: "abc", Comment: "A comment\nof two lines; export NOT_SET=1"},
		{Name: "QUOTE", Value: `it's "quoted"`},
		{Name: "EXPAND", Value: "$HOME `id` $(id)"},
		{Name: "SPACES", Value: "  a b\tc  "},
		{Name: "NEWLINE", Value: "line1\nline2"},
		{Name: "EMPTY", Value: ""},
		{Name: "NOT_SET", Value: "", Comment: "(NOT_SET stays empty: comments are not run)"},
	}
	path := filepath.Join(t.TempDir(), "env")
	if err := writeEnvFile(path, vars, "/opt/it's bin", "/work/lockstep/bin"); err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		out, err := exec.CommandContext(t.Context(), "sh", "-c", `. "$1" && printf %s "$`+v.Name+`"`, "sh", path).Output()
		if err != nil {
			t.Fatalf("sourcing: %v", err)
		}
		if string(out) != v.Value {
			t.Errorf("%s = %q after sourcing, want %q", v.Name, out, v.Value)
		}
	}
	out, err := exec.CommandContext(t.Context(), "sh", "-c", `PATH=/usr/bin:/bin; . "$1" && printf %s "$PATH"`, "sh", path).Output()
	if err != nil || string(out) != "/opt/it's bin:/work/lockstep/bin:/usr/bin:/bin" {
		t.Errorf("PATH after sourcing = %q (%v), want the bin dirs first, in order", out, err)
	}
}

// The env file holds passwords: only its owner may read it, even when the
// previous run's file was readable by others.
func TestEnvFileIsTheOwnersOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(path, []byte("export OLD=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeEnvFile(path, []Var{{Name: "LOCKSTEP_ADMIN_PASSWORD", Value: "secret"}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("env file mode = %v (err %v), want 0600", fi.Mode().Perm(), err)
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "OLD") {
		t.Errorf("the previous env file's content is still there:\n%s", raw)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".env-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// The viewer's grant is added to a policy a user wrote, once, and every line
// they wrote stays.
func TestViewerGrantKeepsThePolicy(t *testing.T) {
	for _, tc := range []struct{ name, csv, want string }{
		{"empty", "", viewerGrant + "\n"},
		{"no final newline", "p, role:ci, applications, sync, */*, allow", "p, role:ci, applications, sync, */*, allow\n" + viewerGrant + "\n"},
		{"user lines", "# ours\ng, alice, role:admin\n", "# ours\ng, alice, role:admin\n" + viewerGrant + "\n"},
		{"present, spaced differently", "g,viewer ,  role:readonly\n", "g,viewer ,  role:readonly\n"},
		{"present", "g, alice, role:admin\n" + viewerGrant + "\n", "g, alice, role:admin\n" + viewerGrant + "\n"},
	} {
		if got := withLine(tc.csv, viewerGrant); got != tc.want {
			t.Errorf("%s: withLine(%q) = %q, want %q", tc.name, tc.csv, got, tc.want)
		}
	}
}

func TestSecondDevOnTheSameStateDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Start(t.Context(), Options{StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "another `lockstep dev` is running") {
		t.Errorf("Start on a locked state dir: err = %v, want a clear refusal", err)
	}
}
