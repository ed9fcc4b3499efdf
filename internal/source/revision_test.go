package source_test

import (
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/source"
)

func TestParseRevision(t *testing.T) {
	hash := strings.Repeat("ab", 20)
	for _, tt := range []struct {
		in      string
		want    source.Ref
		wantErr string
	}{
		{in: "main", want: source.Ref{Branch: "main"}},
		{in: "feature/new-ingress", want: source.Ref{Branch: "feature/new-ingress"}},
		{in: hash, want: source.Ref{Commit: hash}},
		{in: strings.ToUpper(hash), want: source.Ref{Commit: hash}},
		{in: "refs/heads/cafe1234", want: source.Ref{Branch: "cafe1234"}},
		{in: "refs/tags/v1.2.0", want: source.Ref{Tag: "v1.2.0"}},
		{in: "", wantErr: "name a revision"},
		{in: "cafe1234", wantErr: "full 40-character hash"},
		{in: "refs/heads/", wantErr: "names no branch"},
		{in: "a..b", wantErr: "not a valid Git ref name"},
		{in: "-rf", wantErr: "not a valid Git ref name"},
		{in: "x\ny", wantErr: "control character"},
		{in: "x y", wantErr: "not a valid Git ref name"},
		{in: "main.lock", wantErr: "not a valid Git ref name"},
		{in: strings.Repeat("b", 300), wantErr: "at most 255"},
	} {
		got, err := source.ParseRevision(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseRevision(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("ParseRevision(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseRevision(f *testing.F) {
	for _, s := range []string{"main", "refs/tags/v1", strings.Repeat("0", 40), "a..b", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := source.ParseRevision(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(r.Branch+r.Tag, " \n\x00~^:?*[\\") || strings.Contains(r.Branch+r.Tag, "..") {
			t.Fatalf("ParseRevision(%q) accepted %+v", s, r)
		}
	})
}
