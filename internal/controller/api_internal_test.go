package controller

import (
	"strings"
	"testing"
)

// The API's public origin: --api-public-url's, else --oidc-redirect-url's,
// normalized; the two must agree when both are given.
func TestPublicOrigin(t *testing.T) {
	const callback = "https://lockstep.example/auth/callback"
	for _, tc := range []struct {
		name, public, redirect string
		want, wantErr          string
	}{
		{"neither", "", "", "", ""},
		{"the public URL", "https://lockstep.example", "", "https://lockstep.example", ""},
		{"the public URL, with a slash, a default port and capitals", "HTTPS://Lockstep.Example:443/", "", "https://lockstep.example", ""},
		{"the public URL on another port", "https://lockstep.example:8443", "", "https://lockstep.example:8443", ""},
		{"a plain-HTTP public URL", "http://lockstep.internal", "", "http://lockstep.internal", ""},
		{"the redirect URL alone", "", callback, "https://lockstep.example", ""},
		{"both, agreeing", "https://lockstep.example:443", callback, "https://lockstep.example", ""},
		{"both, disagreeing", "https://other.example", callback, "", "name different origins"},
		{"both, another scheme", "http://lockstep.example", callback, "", "name different origins"},
		{"a path", "https://lockstep.example/lockstep", "", "", "with no path"},
		{"a query", "https://lockstep.example/?x=1", "", "", "with no path"},
		{"no scheme", "lockstep.example", "", "", "--api-public-url"},
		{"another scheme", "ftp://lockstep.example", "", "", "want http:// or https://"},
		{"a user", "https://me@lockstep.example", "", "", "want http:// or https://"},
	} {
		got, err := publicOrigin(tc.public, tc.redirect)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %q, %v; want %q, an error mentioning %q", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
