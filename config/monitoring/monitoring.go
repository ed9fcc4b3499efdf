// Package monitoring holds Lockstep's Grafana dashboard (grafana-dashboard.json)
// and Prometheus alert rules (prometheus-rules.yaml), committed so that an
// air-gapped Grafana and Prometheus can load them (docs/metrics.md says how).
// It reads back the PromQL they hold, so that a test can keep every metric
// name in them one the controller serves.
package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// The files, as committed.
const (
	DashboardFile = "grafana-dashboard.json"
	RulesFile     = "prometheus-rules.yaml"
)

var (
	//go:embed grafana-dashboard.json
	dashboardJSON []byte
	//go:embed prometheus-rules.yaml
	rulesYAML []byte
)

// Expression is one PromQL expression of the dashboard or the rules, and
// where it is.
type Expression struct {
	// Where names the file and the panel, variable or rule.
	Where  string
	PromQL string
}

// dashboard is the part of a Grafana dashboard that holds queries.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Datasource datasource `json:"datasource"`
			Query      struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// rules is a Prometheus rule file.
type rules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func parseDashboard() (*dashboard, error) {
	var d dashboard
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	return &d, nil
}

func parseRules() (*rules, error) {
	var r rules
	if err := yaml.UnmarshalStrict(rulesYAML, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", RulesFile, err)
	}
	return &r, nil
}

// allPanels are the dashboard's panels, those inside collapsed rows too.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Expressions returns every PromQL expression of the dashboard (its panels'
// queries and its variables') and of the rules.
func Expressions() ([]Expression, error) {
	d, err := parseDashboard()
	if err != nil {
		return nil, err
	}
	r, err := parseRules()
	if err != nil {
		return nil, err
	}
	var out []Expression
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			out = append(out, Expression{Where: fmt.Sprintf("%s: panel %q", DashboardFile, p.Title), PromQL: t.Expr})
		}
	}
	for _, v := range d.Templating.List {
		out = append(out, Expression{Where: fmt.Sprintf("%s: variable %s", DashboardFile, v.Name), PromQL: v.Query.Query})
	}
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			out = append(out, Expression{Where: fmt.Sprintf("%s: rule %s", RulesFile, rl.Alert+rl.Record), PromQL: rl.Expr})
		}
	}
	return out, nil
}
