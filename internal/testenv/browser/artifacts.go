package browser

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ArtifactsEnv names the folder where screenshots are kept whatever the outcome,
// one subfolder per test (CI can upload it). Unset, each test's screenshots go to a
// folder under the system's temporary folder that is removed when the test passes
// and kept, its path printed, when it fails.
const ArtifactsEnv = "LOCKSTEP_TEST_ARTIFACTS"

// artifacts is where one test's files go; the folder is made at the first file.
type artifacts struct {
	root string // $LOCKSTEP_TEST_ARTIFACTS, or "" for a temporary folder
	name string // the test's name, safe as a file name
	dir  string // made; "" until the first file
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func newArtifacts(t testing.TB) *artifacts {
	return &artifacts{
		root: os.Getenv(ArtifactsEnv),
		name: strings.Trim(unsafeName.ReplaceAllString(t.Name(), "_"), "_"),
	}
}

// path returns where a file of this name goes, making the folder if needed.
func (a *artifacts) path(file string) (string, error) {
	if a.dir == "" {
		var err error
		if a.root != "" {
			a.dir = filepath.Join(a.root, a.name)
			err = os.MkdirAll(a.dir, 0o755)
		} else {
			a.dir, err = os.MkdirTemp("", "lockstep-browser-"+a.name+"-")
		}
		if err != nil {
			a.dir = ""
			return "", fmt.Errorf("making the artifacts folder: %w", err)
		}
	}
	return filepath.Join(a.dir, file), nil
}

// finish removes a temporary folder when the test passed.
func (a *artifacts) finish(failed bool) {
	if a.root == "" && a.dir != "" && !failed {
		_ = os.RemoveAll(a.dir)
	}
}
