package postgres

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without Debian's binaries the tests stop at once and say what to run.
func TestMissingBinariesNameMakePostgres(t *testing.T) {
	root := binariesRoot
	t.Cleanup(func() { binariesRoot = root })
	binariesRoot = t.TempDir()
	// A client-only install has a version folder without initdb.
	if err := os.MkdirAll(filepath.Join(binariesRoot, "15", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Options{})
	if err == nil || !strings.Contains(err.Error(), "make postgres") {
		t.Fatalf("Start without binaries: %v", err)
	}
}

// The newest major version with both binaries is the one run.
func TestTheNewestVersionIsRun(t *testing.T) {
	root := binariesRoot
	t.Cleanup(func() { binariesRoot = root })
	binariesRoot = t.TempDir()
	for _, v := range []string{"13", "16", "17"} {
		bin := filepath.Join(binariesRoot, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"initdb", "postgres"}
		if v == "17" {
			names = names[:1] // half an install
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := findBinaries()
	if err != nil || b.version != 16 {
		t.Fatalf("found %+v, %v; want version 16", b, err)
	}
}
