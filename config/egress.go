package config

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The NetworkPolicy's placeholder addresses in config/install, which
// InstallOptions.APIServer and InstallOptions.Egress replace.
const (
	placeholderAPIServer = "10.0.0.1/32"
	placeholderEgress    = "192.0.2.0/24"
)

// setEgress puts the API server's and the Git servers' and registry's
// addresses in place of the NetworkPolicy's placeholders: one ipBlock per
// address, each a CIDR or a single IP.
func setEgress(objs []*unstructured.Unstructured, opts InstallOptions) error {
	replace := map[string][]any{}
	for placeholder, given := range map[string][]string{placeholderAPIServer: opts.APIServer, placeholderEgress: opts.Egress} {
		if len(given) == 0 {
			continue
		}
		var to []any
		for _, s := range given {
			cidr, err := parseCIDR(s)
			if err != nil {
				return err
			}
			to = append(to, map[string]any{"ipBlock": map[string]any{"cidr": cidr}})
		}
		replace[placeholder] = to
	}
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		rules, _, err := unstructured.NestedSlice(o.Object, "spec", "egress")
		if err != nil {
			return err
		}
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			to, _ := rule["to"].([]any)
			if len(to) != 1 {
				continue
			}
			cidr, _, _ := unstructured.NestedString(to[0].(map[string]any), "ipBlock", "cidr")
			if with, ok := replace[cidr]; ok {
				rule["to"] = with
			}
			ports := map[string][]int32{placeholderAPIServer: opts.APIServerPorts, placeholderEgress: opts.EgressPorts}[cidr]
			if len(ports) > 0 {
				rule["ports"] = tcpPorts(ports)
			}
		}
		if err := unstructured.SetNestedSlice(o.Object, rules, "spec", "egress"); err != nil {
			return err
		}
	}
	return nil
}

func tcpPorts(ports []int32) []any {
	var out []any
	for _, p := range ports {
		out = append(out, map[string]any{"port": int64(p), "protocol": "TCP"})
	}
	return out
}

// parseCIDR accepts 10.0.0.0/8, fd00::/8 or a single address (a /32 or /128).
func parseCIDR(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Masked() != p {
			return "", fmt.Errorf("address range %s has host bits set: did you mean %s?", s, p.Masked())
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
	}
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}
