package sandbox_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

var (
	benign = fstest.MapFS{"app/cm.yaml": {Data: []byte(configMap)}}
	// A template that asks for a gigabyte.
	helmBomb = mapFS(map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: {{ repeat 1073741824 \"x\" | quote }}\n",
	})
	// Loops that run for hours in little memory.
	helmLoop = mapFS(map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/templates/cm.yaml": "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n",
	})
)

func renderBenign(t *testing.T, p *sandbox.Pool) {
	t.Helper()
	res, err := p.Render(t.Context(), benign, "app", withTenant(hostileOptions, "ns/benign"))
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("a benign render after a hostile one: %v", err)
	}
}

// A render over its memory budget or its time limit fails naming the limit;
// its process is replaced, and the next render works.
func TestRendersOverTheirLimitsFailAndTheNextWorks(t *testing.T) {
	p := newPool(t, sandbox.Options{Processes: 2, Memory: 256 << 20, Timeout: 3 * time.Second})
	_, err := p.Render(t.Context(), helmBomb, "chart", withTenant(hostileOptions, "ns/bomb"))
	var re *render.Error
	if !errors.Is(err, sandbox.ErrMemoryLimit) || !errors.Is(err, render.ErrLimit) || !errors.As(err, &re) || re.File != "chart" {
		t.Errorf("a template that allocates a gigabyte: got %v, want the memory limit in chart", err)
	} else if !strings.Contains(err.Error(), "256 MiB") {
		t.Errorf("the error does not name the budget: %v", err)
	}
	renderBenign(t, p)

	start := time.Now()
	_, err = p.Render(t.Context(), helmLoop, "chart", withTenant(hostileOptions, "ns/loop"))
	if !errors.Is(err, sandbox.ErrTimeLimit) || !strings.Contains(err.Error(), "3s") {
		t.Errorf("a template looping 10^10 times: got %v, want the time limit", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the time limit of 3s took %v to apply", d)
	}
	renderBenign(t, p)

	// The interpreter allocates on every call: with 256 MiB, a slow
	// collector on a busy machine can reach the memory budget before the
	// 64 MiB stack (make test saw it once). With room, the stack limit is
	// what stops it.
	roomy := newPool(t, sandbox.Options{Processes: 2, Memory: 1 << 30, Timeout: 10 * time.Second})
	recursion := mapFS(map[string]string{"j/main.jsonnet": "local f(n) = f(n + 1) tailstrict; f(0)"})
	if _, err = roomy.Render(t.Context(), recursion, "j", withTenant(hostileOptions, "ns/recursion")); !errors.Is(err, sandbox.ErrStackLimit) {
		t.Errorf("a recursion without end: got %v, want the stack limit", err)
	}
	renderBenign(t, roomy)
}

// Applications whose last render went over a limit share all processes but
// one: however many there are, a benign render still finds one free.
func TestHostileRendersCannotHoldEveryProcess(t *testing.T) {
	p := newPool(t, sandbox.Options{Processes: 2, Timeout: 3 * time.Second})
	hostile := []string{"team-a/loop", "team-b/loop", "team-c/loop"}
	// First, each shows what it is.
	for _, h := range hostile {
		if _, err := p.Render(t.Context(), helmLoop, "chart", withTenant(hostileOptions, h)); !errors.Is(err, sandbox.ErrTimeLimit) {
			t.Fatalf("%s: %v, want the time limit", h, err)
		}
	}
	// Then they all render again at once, and a benign render comes in.
	var wg sync.WaitGroup
	for _, h := range hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = p.Render(t.Context(), helmLoop, "chart", withTenant(hostileOptions, h))
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	renderBenign(t, p)
	// Behind a hostile render it would wait out its 3 s time limit (2.7 s
	// from here); a busy machine starts a process in well under 2 s.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the benign render waited %v behind the hostile ones", d)
	}
	wg.Wait()
}

// What a render sends back is bounded: its objects by the output limit, its
// error message (whose text a template controls) to a few KiB.
func TestWhatARenderSendsBackIsBounded(t *testing.T) {
	p := newPool(t, sandbox.Options{Processes: 2, MaxOutput: 1 << 20})
	bigFail := mapFS(map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/templates/cm.yaml": `{{ fail (repeat 5000000 "x") }}`,
	})
	_, err := p.Render(t.Context(), bigFail, "chart", withTenant(hostileOptions, "ns/fail"))
	if err == nil || len(err.Error()) > 16<<10 {
		t.Errorf("a 5 MB failure message: got %d bytes of error", len(fmt.Sprint(err)))
	}
	bigOutput := mapFS(map[string]string{
		"chart/Chart.yaml":        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
		"chart/templates/cm.yaml": "{{ range $i := until 40 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c{{ $i }}}\ndata: {x: {{ repeat 100000 \"x\" | quote }}}\n{{ end }}",
	})
	if _, err := p.Render(t.Context(), bigOutput, "chart", withTenant(hostileOptions, "ns/big")); !errors.Is(err, sandbox.ErrOutputLimit) {
		t.Errorf("4 MB of objects under a 1 MiB output limit: got %v, want ErrOutputLimit", err)
	}
	renderBenign(t, p)
}

// Vendored subcharts that decompress to far more than the render's memory
// (compression bombs under the file-size limit; Helm refuses one past
// 100 MiB, so five of 90 MiB) meet the memory budget.
func TestSubchartCompressionBombsMeetTheMemoryBudget(t *testing.T) {
	fsys := fstest.MapFS{"chart/Chart.yaml": {Data: []byte("apiVersion: v2\nname: c\nversion: 1.0.0\n")}}
	const huge = 90 << 20
	for i := range 5 {
		name := fmt.Sprintf("bomb%d", i)
		var tgz bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&tgz, gzip.BestCompression)
		tw := tar.NewWriter(gz)
		chart := "apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n"
		_ = tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(chart))})
		_, _ = tw.Write([]byte(chart))
		_ = tw.WriteHeader(&tar.Header{Name: name + "/templates/NOTES.txt", Mode: 0o644, Size: huge})
		zeros := make([]byte, 1<<20)
		for range huge >> 20 {
			_, _ = tw.Write(zeros)
		}
		_ = tw.Close()
		_ = gz.Close()
		fsys["chart/charts/"+name+"-1.0.0.tgz"] = &fstest.MapFile{Data: tgz.Bytes()}
	}
	p := newPool(t, sandbox.Options{Processes: 2, Memory: 256 << 20, Timeout: 30 * time.Second})
	_, err := p.Render(t.Context(), fsys, "chart", withTenant(hostileOptions, "ns/bombs"))
	if !errors.Is(err, sandbox.ErrMemoryLimit) {
		t.Errorf("five subcharts of 90 MiB each: got %v, want the memory budget", err)
	}
	renderBenign(t, p)
}
