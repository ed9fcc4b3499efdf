package rbac

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/glob/syntax"
	"github.com/gobwas/glob/syntax/ast"
)

// Patterns are read with gobwas/glob's parser, the syntax Argo CD's policies
// are written in, but matched with Go's regexp. gobwas/glob's own matcher
// backtracks: {a,{a,{a,{a,{a,{a,b}b}b}b}b}b} took 8 s against a 600-byte
// object, and [a-z]*[a-z]*... is as bad, so one policy line could stall every
// request. RE2 matches in time linear in the object.

// A pattern matches one field. Most fields in real policies are *, a literal
// or a prefix such as team-a/*, which need no regexp: Enforce runs once per
// Application on a list of ten thousand.
type pattern struct {
	kind  patternKind
	text  string         // the literal, prefix or suffix
	regex *regexp.Regexp // for patternRegexp
}

type patternKind int

const (
	patternLiteral patternKind = iota
	patternAny
	patternPrefix // text*
	patternSuffix // *text
	patternRegexp
)

func (p pattern) match(s string) bool {
	switch p.kind {
	case patternAny:
		return true
	case patternPrefix:
		return strings.HasPrefix(s, p.text)
	case patternSuffix:
		return strings.HasSuffix(s, p.text)
	case patternRegexp:
		return p.regex.MatchString(s)
	default:
		return s == p.text
	}
}

// isLiteral reports whether s has none of the glob syntax.
func isLiteral(s string) bool {
	return !strings.ContainsAny(s, `*?[]{}\`)
}

// compilePattern compiles s with no separators, so * spans /.
func compilePattern(s string) (p pattern, err error) {
	// gobwas/glob's lexer ends a pattern at a NUL and stops at bad UTF-8: what
	// follows would be dropped, and a dropped suffix can widen a pattern.
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return pattern{}, errors.New("NUL byte or invalid UTF-8")
	}
	if isLiteral(s) {
		return pattern{text: s}, nil
	}
	// The parser indexes a node's parent without checking it; a policy line
	// must never take the API down, so a panic is a parse error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid glob: %v", r)
		}
	}()
	tree, err := syntax.Parse(s)
	if err != nil {
		return pattern{}, err
	}
	if p, ok := simplePattern(tree); ok {
		return p, nil
	}
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	if err := writeRegexp(&b, tree); err != nil {
		return pattern{}, err
	}
	b.WriteString(`)\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return pattern{}, err
	}
	return pattern{kind: patternRegexp, regex: re}, nil
}

// simplePattern recognises the shapes that need no regexp: a literal (escapes
// included), *, text* and *text.
func simplePattern(tree *ast.Node) (pattern, bool) {
	n := tree.Children
	wild := func(i int) bool { return n[i].Kind == ast.KindAny || n[i].Kind == ast.KindSuper }
	text := func(i int) (string, bool) {
		t, ok := n[i].Value.(ast.Text)
		return t.Text, ok && n[i].Kind == ast.KindText
	}
	switch len(n) {
	case 0:
		return pattern{}, true
	case 1:
		if wild(0) {
			return pattern{kind: patternAny}, true
		}
		if t, ok := text(0); ok {
			return pattern{text: t}, true
		}
	case 2:
		if t, ok := text(0); ok && wild(1) {
			return pattern{kind: patternPrefix, text: t}, true
		}
		if t, ok := text(1); ok && wild(0) {
			return pattern{kind: patternSuffix, text: t}, true
		}
	}
	return pattern{}, false
}

// writeRegexp spells the glob tree as a regular expression. Characters are
// written as \x{...} inside classes so none of them is special there.
func writeRegexp(b *strings.Builder, n *ast.Node) error {
	switch n.Kind {
	case ast.KindPattern:
		for _, c := range n.Children {
			if err := writeRegexp(b, c); err != nil {
				return err
			}
		}
	case ast.KindText:
		b.WriteString(regexp.QuoteMeta(n.Value.(ast.Text).Text))
	case ast.KindAny, ast.KindSuper:
		b.WriteString(`.*`)
	case ast.KindSingle:
		b.WriteString(`.`)
	case ast.KindList:
		l := n.Value.(ast.List)
		b.WriteString(classOpen(l.Not))
		for _, r := range l.Chars {
			fmt.Fprintf(b, `\x{%x}`, r)
		}
		b.WriteString(`]`)
	case ast.KindRange:
		r := n.Value.(ast.Range)
		fmt.Fprintf(b, `%s\x{%x}-\x{%x}]`, classOpen(r.Not), r.Lo, r.Hi)
	case ast.KindAnyOf:
		b.WriteString(`(?:`)
		for i, c := range n.Children {
			if i > 0 {
				b.WriteString(`|`)
			}
			if err := writeRegexp(b, c); err != nil {
				return err
			}
		}
		b.WriteString(`)`)
	default:
		return errors.New("invalid glob")
	}
	return nil
}

func classOpen(not bool) string {
	if not {
		return `[^`
	}
	return `[`
}

// compileProjects compiles a token's project globs. A glob that does not
// compile matches nothing: the token was meant to be narrow, so it fails closed.
func compileProjects(globs []string) []pattern {
	out := make([]pattern, 0, len(globs))
	for _, g := range globs {
		if p, err := compilePattern(g); err == nil {
			out = append(out, p)
		}
	}
	return out
}
