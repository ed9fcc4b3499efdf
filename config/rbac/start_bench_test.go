package rbac_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/config/rbac"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// BenchmarkInstalledControllerStart starts the lockstep binary as the
// install's Deployment runs it (its arguments, volumes, environment and
// service account) and reports how long it takes to be ready (/readyz, the
// readiness probe: caches synced), to serve the API (leader elected, the
// web UI answers), and its memory once idle for 10 s with no Application.
//
//	go test -run '^$' -bench InstalledControllerStart -benchtime 3x ./config/rbac/
func BenchmarkInstalledControllerStart(b *testing.B) {
	ctx := testenv.Context(b)
	objs := installAsAdmin(b, adminClient(b), config.InstallOptions{})
	cfg := testenv.ServiceAccountConfig(b, rbac.Namespace, rbac.ServiceAccount)
	dir := b.TempDir()
	bin := filepath.Join(dir, "lockstep")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", dir+"/", "github.com/lockstep-dev/lockstep/cmd/lockstep", "github.com/lockstep-dev/lockstep/cmd/lockstep-render")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the image's binary is built (make static)
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var ready, serving time.Duration
	var rss, anon float64
	for range b.N {
		args, ctl := installedCommand(b, objs, cfg)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ctl.caPEM)
		api := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		cmd := exec.Command(bin, args...)
		cmd.Env = os.Environ() // with the Deployment's, set by installedCommand
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ready += waitFor(b, http.DefaultClient, ctl.metricsURL+"/readyz", start)
		serving += waitFor(b, api, ctl.apiURL+"/", start)
		time.Sleep(10 * time.Second)
		m, err := proc.Memory(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		rss += float64(m["VmRSS"]) / (1 << 20)
		anon += float64(m["RssAnon"]) / (1 << 20)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Errorf("the controller stopped with %v", err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(ready.Milliseconds())/n, "ready-ms")
	b.ReportMetric(float64(serving.Milliseconds())/n, "api-ms")
	b.ReportMetric(rss/n, "idle-RSS-MiB")
	b.ReportMetric(anon/n, "idle-RSS-anon-MiB")
}

// waitFor polls url until it answers 200 and returns how long after start.
func waitFor(b *testing.B, c *http.Client, url string, start time.Time) time.Duration {
	b.Helper()
	for time.Since(start) < time.Minute {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("%s did not answer 200 within a minute", url)
	return 0
}
