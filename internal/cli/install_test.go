package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// Without a kubeconfig, install and bootstrap say what they need, not
// how to log in to the Lockstep API (which they never talk to).
func TestInstallWithoutAClusterSaysWhatItNeeds(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "none"))
	for _, args := range [][]string{
		{"install", "--egress", "10.20.0.5"},
		{"bootstrap", "--repo", "https://git.internal/platform/clusters.git", "--path", "prod/lockstep", "--egress", "10.20.0.5", "--author", "Ada <ada@example.com>"},
	} {
		out, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "no cluster to install into") || strings.Contains(err.Error(), "lockstep login") {
			t.Errorf("lockstep %s: %v\n%s", args[0], err, out)
		}
	}
}
