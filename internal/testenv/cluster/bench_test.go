package cluster_test

import (
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// BenchmarkStart measures a warm start to ready (API server ready, controllers and
// KWOK healthy, nodes Ready) and, once per run, each component's resident memory
// after it has idled for settle. Run with `make bench`.
func BenchmarkStart(b *testing.B) {
	const settle = 15 * time.Second
	bins := binaries(b)
	var total time.Duration
	rss := map[string]float64{}
	for i := 0; i < b.N; i++ {
		cp, err := cluster.Start(b.Context(), cluster.Options{Binaries: bins})
		if err != nil {
			b.Fatal(err)
		}
		total += cp.Started
		if i == b.N-1 {
			b.StopTimer()
			time.Sleep(settle)
			for name, pid := range cp.PIDs() {
				mib, err := residentMiB(pid)
				if err != nil {
					b.Fatal(err)
				}
				rss[name] = mib
			}
			b.StartTimer()
		}
		cp.Stop()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-ready/op")
	sum := 0.0
	for name, mib := range rss {
		b.ReportMetric(mib, name+"-RSS-MiB")
		sum += mib
	}
	b.ReportMetric(sum, "total-RSS-MiB")
}

// residentMiB reads VmRSS from /proc/PID/status.
func residentMiB(pid int) (float64, error) {
	m, err := proc.Memory(pid)
	return float64(m["VmRSS"]) / (1 << 20), err
}
