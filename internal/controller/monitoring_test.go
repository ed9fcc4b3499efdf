package controller

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockstep-dev/lockstep/config/monitoring"
)

// served returns the name of every metric Lockstep registers, and which are
// histograms (served as name_bucket, name_sum and name_count).
func served(t *testing.T) (names, histograms map[string]bool) {
	t.Helper()
	names, histograms = map[string]bool{}, map[string]bool{}
	// A Desc says its name only in its String form: Desc{fqName: "...", ...}.
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range metricCollectors(t.Context(), fakeApplications(t), logr.Discard()) {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			names[m[1]] = true
			switch c.(type) {
			case prometheus.Histogram, *prometheus.HistogramVec:
				histograms[m[1]] = true
			}
		}
	}
	if !names["lockstep_app_info"] || len(histograms) == 0 {
		t.Fatalf("names %v, histograms %v: the collectors were not read", names, histograms)
	}
	return names, histograms
}

// Every lockstep_ metric the committed dashboard and alert rules use is one
// the controller serves: renaming a metric without them fails here, not on a
// dashboard in a closed network. And the dashboard shows every one.
func TestDashboardsAndRulesUseServedMetrics(t *testing.T) {
	names, histograms := served(t)
	exprs, err := monitoring.Expressions()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	metric := regexp.MustCompile(`\blockstep_[a-z0-9_]+`)
	for _, e := range exprs {
		for _, name := range metric.FindAllString(e.PromQL, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && histograms[b] {
					base = b
				}
			}
			switch {
			case !names[base]:
				t.Errorf("%s uses %s, which Lockstep does not serve (served: %v)", e.Where, name, slices.Sorted(maps.Keys(names)))
			case base == name && histograms[name]:
				t.Errorf("%s uses the histogram %s without _bucket, _sum or _count", e.Where, name)
			}
			used[base] = true
		}
	}
	for name := range names {
		if !used[name] {
			t.Errorf("%s is served but neither %s nor %s uses it", name, monitoring.DashboardFile, monitoring.RulesFile)
		}
	}
}
