package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// lockedWriter lets a command write from its goroutine while the test reads.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "lockstep ") {
		t.Errorf("version: %q, %v", out, err)
	}
	out, err = run(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(out), &info); err != nil || info["version"] == "" || info["goVersion"] == "" {
		t.Errorf("version -o json = %q (%v)", out, err)
	}
	if _, err := run(t, "version", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), `unknown output format "yaml"`) {
		t.Errorf("version -o yaml: err = %v, want an unknown-format error", err)
	}
	if _, err := run(t, "version", "extra"); err == nil {
		t.Error("version with an argument succeeded")
	}
}

func TestExitCodesScriptsCanRelyOn(t *testing.T) {
	_, usage := run(t, "version", "extra")
	_, flag := run(t, "get", "apps", "--no-such-flag")
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, cli.ExitOK},
		{usage, cli.ExitUsage},
		{flag, cli.ExitUsage},
		{&server.StatusError{Code: 401}, cli.ExitUnauthorized},
		{server.ErrNotLoggedIn, cli.ExitUnauthorized},
		{fmt.Errorf("listing: %w", &server.StatusError{Code: 403}), cli.ExitForbidden},
		{&server.StatusError{Code: 404}, cli.ExitNotFound},
		{&server.StatusError{Code: 409}, cli.ExitConflict},
		{fmt.Errorf("%w: refused", cli.ErrSyncFailed), cli.ExitSyncFailed},
		{&server.StatusError{Code: 500}, cli.ExitError},
		{errors.New("anything"), cli.ExitError},
	} {
		if got := cli.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// A rate limit that would stop the controller's requests, or silently
// mean client-go's own default, is refused at start.
func TestControllerRefusesAUselessRateLimit(t *testing.T) {
	for _, args := range [][]string{{"--kube-api-qps", "0"}, {"--kube-api-qps", "NaN"}, {"--kube-api-qps", "50", "--kube-api-burst", "0"}} {
		_, err := run(t, append([]string{"controller", "--kubeconfig", "/nonexistent"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "a burst of at least 1") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
