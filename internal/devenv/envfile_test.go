package devenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Values in the env file survive a real shell unchanged, whatever they hold.
func TestEnvFileQuotesHostileValues(t *testing.T) {
	vars := [][2]string{
		{"PLAIN", "abc"},
		{"QUOTE", `it's "quoted"`},
		{"EXPAND", "$HOME `id` $(id)"},
		{"SPACES", "  a b\tc  "},
		{"NEWLINE", "line1\nline2"},
		{"EMPTY", ""},
	}
	path := filepath.Join(t.TempDir(), "env")
	if err := writeEnvFile(path, vars, "/opt/it's bin", "/work/lockstep/bin"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range vars {
		out, err := exec.CommandContext(t.Context(), "sh", "-c", `. "$1" && printf %s "$`+kv[0]+`"`, "sh", path).Output()
		if err != nil {
			t.Fatalf("sourcing: %v", err)
		}
		if string(out) != kv[1] {
			t.Errorf("%s = %q after sourcing, want %q", kv[0], out, kv[1])
		}
	}
	out, err := exec.CommandContext(t.Context(), "sh", "-c", `PATH=/usr/bin:/bin; . "$1" && printf %s "$PATH"`, "sh", path).Output()
	if err != nil || string(out) != "/opt/it's bin:/work/lockstep/bin:/usr/bin:/bin" {
		t.Errorf("PATH after sourcing = %q (%v), want the bin dirs first, in order", out, err)
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
