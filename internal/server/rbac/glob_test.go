package rbac

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/glob"
	"github.com/gobwas/glob/syntax"
	"github.com/gobwas/glob/syntax/ast"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
		// gobwas says whether gobwas/glob, Argo CD's matcher, agrees; where it
		// does not, it is wrong and we are deliberately not.
		gobwas bool
	}{
		{"team-a/*", "team-a/x/y", true, true},
		{"team-a/*", "team-ab/x", false, true},
		{"*/prod/*", "team-a/prod/api", true, true},
		{"*/api", "team-a/x/api", true, true},
		{"team-?/*", "team-b/x", true, true},
		{"[a-c]*", "b/x", true, true},
		{"[!a-c]*", "b/x", false, true},
		{"[abc]/x", "c/x", true, true},
		{"{team-a,team-b}/*", "team-b/x", true, true},
		{"{team-a,team-b}/*", "team-c/x", false, true},
		{`a\*b`, "a*b", true, true},
		{`a\*b`, "axb", false, true},
		{"**", "x/y", true, true},
		{"action/apps/*/restart", "action/apps/Deployment/restart", true, true},
		{"", "", true, true},
		{"team-a*a", "team-a", false, false},
		{"ä?", "äb", true, false},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.pattern)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", tt.pattern, err)
		}
		if got := p.match(tt.s); got != tt.want {
			t.Errorf("%q matching %q: %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
		if g := glob.MustCompile(tt.pattern); (g.Match(tt.s) == tt.want) != tt.gobwas {
			t.Errorf("%q matching %q: gobwas/glob says %v; the table says it agrees: %v", tt.pattern, tt.s, g.Match(tt.s), tt.gobwas)
		}
	}
}

// A pattern that makes gobwas/glob backtrack for seconds matches at once.
func TestGlobLinear(t *testing.T) {
	nested := "b"
	for range 30 {
		nested = "{a," + nested + "b}"
	}
	object := strings.Repeat("ab", 300)
	for _, pat := range []string{nested, strings.Repeat("[a-z]*", 40) + "c"} {
		p, err := compilePattern(pat)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", pat, err)
		}
		start := time.Now()
		p.match(object)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%.30s... took %v", pat, d)
		}
	}
}

// FuzzGlob checks the regexp a pattern becomes against a plain reading of the
// pattern's syntax tree.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"team-a/*", "team-a/x/y"}, {"*/prod/*", "a/prod/b"}, {"team-?", "team-1"},
		{"[a-c]*", "b/x"}, {"[!a-c]*", "d"}, {"{team-a,team-b}/*", "team-b/x"},
		{`a\*b`, "a*b"}, {"**", "x/y"}, {"{a,{b,c}}?", "cz"}, {"[abc]", "c"}, {"ä?", "äö"},
		{"0*0", "0"}, {"[^]]", "^"}, {`[\]]`, "]"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		// The reference backtracks: keep it short.
		if len(pat) > 24 || len(s) > 24 || !utf8.ValidString(s) {
			return
		}
		p, err := compilePattern(pat)
		if err != nil {
			return
		}
		tree, err := syntax.Parse(pat)
		if err != nil {
			t.Fatalf("compilePattern accepted %q, which does not parse: %v", pat, err)
		}
		if want, got := reference(tree.Children, s), p.match(s); got != want {
			t.Fatalf("%q matching %q: %v, want %v", pat, s, got, want)
		}
	})
}

// reference matches s against a sequence of glob nodes the obvious way.
func reference(nodes []*ast.Node, s string) bool {
	if len(nodes) == 0 {
		return s == ""
	}
	n, rest := nodes[0], nodes[1:]
	r, size := utf8.DecodeRuneInString(s)
	switch n.Kind {
	case ast.KindText:
		text := n.Value.(ast.Text).Text
		return strings.HasPrefix(s, text) && reference(rest, s[len(text):])
	case ast.KindAny, ast.KindSuper:
		for i := range len(s) + 1 {
			if i == len(s) || utf8.RuneStart(s[i]) {
				if reference(rest, s[i:]) {
					return true
				}
			}
		}
		return false
	case ast.KindSingle:
		return s != "" && reference(rest, s[size:])
	case ast.KindList:
		l := n.Value.(ast.List)
		return s != "" && strings.ContainsRune(l.Chars, r) != l.Not && reference(rest, s[size:])
	case ast.KindRange:
		g := n.Value.(ast.Range)
		return s != "" && (g.Lo <= r && r <= g.Hi) != g.Not && reference(rest, s[size:])
	case ast.KindAnyOf:
		for _, alt := range n.Children {
			if reference(append(append([]*ast.Node{}, alt.Children...), rest...), s) {
				return true
			}
		}
		return false
	}
	panic("unknown node " + n.String())
}

// gobwas/glob would read "team-*\x00x" as team-*, wider than written.
func TestGlobRefuses(t *testing.T) {
	for _, pat := range []string{"team-*\x00x", "team-*\xff", "[", "[z-a]"} {
		if _, err := compilePattern(pat); err == nil {
			t.Errorf("compilePattern(%q) succeeded", pat)
		}
	}
}
