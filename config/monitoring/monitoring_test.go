package monitoring

import (
	"strings"
	"testing"
	"text/template"
)

const datasourceInput = "${DS_PROMETHEUS}"

// The dashboard imports anywhere: its one datasource is an input chosen at
// import, every panel and variable uses it, every panel has a query.
func TestDashboardImportsOffline(t *testing.T) {
	d, err := parseDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one Prometheus datasource named DS_PROMETHEUS", d.Inputs)
	}
	ids := map[int]string{}
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share the id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != datasourceInput || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d queries; want %s and at least one", p.Title, p.Datasource, len(p.Targets), datasourceInput)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != datasourceInput || strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q: a query with datasource %+v and expression %q", p.Title, q.Datasource, q.Expr)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Datasource.UID != datasourceInput {
			t.Errorf("variable %s: datasource %+v, want %s", v.Name, v.Datasource, datasourceInput)
		}
	}
}

// Every alert has a severity and a summary and description that Prometheus
// can expand; those about an Application name it.
func TestRulesNameWhatTheyAlertAbout(t *testing.T) {
	r, err := parseRules()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Alert == "" || names[rl.Alert] {
				t.Errorf("group %s: a rule without a name of its own: %q", g.Name, rl.Alert)
			}
			names[rl.Alert] = true
			if sev := rl.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q", rl.Alert, sev)
			}
			perApplication := strings.Contains(rl.Expr, "lockstep_app_")
			for _, key := range []string{"summary", "description"} {
				text := rl.Annotations[key]
				if text == "" {
					t.Errorf("%s: no %s", rl.Alert, key)
					continue
				}
				// Prometheus defines these before expanding an annotation.
				const defs = `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}`
				funcs := template.FuncMap{"humanize": stub, "humanizeDuration": stub, "humanizePercentage": stub}
				if _, err := template.New(rl.Alert).Funcs(funcs).Parse(defs + text); err != nil {
					t.Errorf("%s: %s: %v", rl.Alert, key, err)
				}
				if perApplication && !strings.Contains(text, "{{ $labels.namespace }}/{{ $labels.name }}") {
					t.Errorf("%s: the %s does not name the Application: %q", rl.Alert, key, text)
				}
				if !strings.Contains(text, "{{ $labels.") {
					t.Errorf("%s: the %s names nothing: %q", rl.Alert, key, text)
				}
			}
		}
	}
	for _, want := range []string{"LockstepAppOutOfSync", "LockstepAppDegraded", "LockstepAppSyncFailed", "LockstepGitFetchFailing", "LockstepLedgerAppendSlow"} {
		if !names[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// stub stands for the template functions Prometheus adds.
func stub(any) string { return "" }

// Brackets balance in every expression (outside quoted strings): a cheap
// check, without Prometheus's parser, that an edit left none open.
func TestExpressionsBalance(t *testing.T) {
	exprs, err := Expressions()
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) < 20 {
		t.Fatalf("%d expressions: the files were not read", len(exprs))
	}
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, e := range exprs {
		var open []rune
		var quote rune
		for _, c := range e.PromQL {
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'' || c == '`':
				quote = c
			case c == '(' || c == '{' || c == '[':
				open = append(open, c)
			case pairs[c] != 0:
				if len(open) == 0 || open[len(open)-1] != pairs[c] {
					t.Errorf("%s: %q closes what is not open in %s", e.Where, c, e.PromQL)
					break
				}
				open = open[:len(open)-1]
			}
		}
		if len(open) > 0 || quote != 0 {
			t.Errorf("%s: left open %q (quote %q) in %s", e.Where, open, quote, e.PromQL)
		}
	}
}
