package rbac

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A LineError is what is wrong with one line of a policy file.
type LineError struct {
	// File is the ConfigMap key, such as policy.csv.
	File string
	// Line is the line's number in File, from 1.
	Line int
	// Err is what is wrong, without the position.
	Err error
}

// Error returns the position and the cause: policy.csv:7: effect "alow": ...
func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// maxReported bounds the errors one parse returns: a file pasted in the wrong
// format fails on every line, and the first few say what is wrong.
const maxReported = 10

// A parser reads policy files into a Policy's index.
type parser struct {
	p *Policy
	// builtin is set while parsing BuiltinPolicy, the only text that may give
	// lines to the built-in roles.
	builtin  bool
	seq      int
	warnings []string
	errs     []error
	// buf is every line's reader: csv.NewReader takes it as it is instead of
	// allocating a 4 KiB buffer per line, which a 10,000-line policy felt.
	buf *bufio.Reader
}

func newParser(p *Policy) *parser {
	p.rules = map[string][]*rule{}
	p.members = map[string][]edge{}
	return &parser{p: p, buf: bufio.NewReader(strings.NewReader(""))}
}

// parse reads one file. Each line is its own CSV record, so an unterminated
// quote is an error on its line instead of swallowing the lines after it.
func (ps *parser) parse(file, text string) {
	for i, line := range strings.Split(text, "\n") {
		if err := ps.line(file, i+1, strings.TrimSuffix(line, "\r")); err != nil {
			ps.errs = append(ps.errs, &LineError{File: file, Line: i + 1, Err: err})
		}
	}
}

// err returns the errors found, the first maxReported of them.
func (ps *parser) err() error {
	if len(ps.errs) <= maxReported {
		return errors.Join(ps.errs...)
	}
	more := fmt.Errorf("and %d more errors", len(ps.errs)-maxReported)
	return errors.Join(append(ps.errs[:maxReported:maxReported], more)...)
}

func (ps *parser) line(file string, n int, line string) error {
	if i := strings.IndexByte(line, 0); i >= 0 {
		return fmt.Errorf("column %d: NUL byte", i+1)
	}
	if !utf8.ValidString(line) {
		return errors.New("not valid UTF-8")
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil
	}
	fields, err := ps.splitCSV(line)
	if err != nil {
		return err
	}
	switch fields[0] {
	case "p":
		return ps.policyLine(file, n, fields)
	case "g":
		return ps.groupLine(file, n, fields)
	}
	return fmt.Errorf("line kind %q: want p or g", fields[0])
}

// splitCSV reads the fields of one line and trims them: Argo CD's policies put
// a space after each comma, and some before.
func (ps *parser) splitCSV(line string) ([]string, error) {
	ps.buf.Reset(strings.NewReader(line))
	r := csv.NewReader(ps.buf)
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return nil, fmt.Errorf("column %d: %w", pe.Column, pe.Err)
		}
		return nil, err
	}
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return fields, nil
}

// policyFields name the fields of a p line after its kind, for messages.
var policyFields = [...]string{"subject", "resource", "action", "object"}

func (ps *parser) policyLine(file string, n int, f []string) error {
	if len(f) != 5 && len(f) != 6 {
		return fmt.Errorf("p line has %d fields: want p, subject, resource, action, object[, effect]", len(f))
	}
	for i, name := range policyFields {
		if f[i+1] == "" {
			return fmt.Errorf("empty %s", name)
		}
	}
	effect := Allow
	if len(f) == 6 {
		switch f[5] {
		case "allow":
		case "deny":
			effect = Deny
		default:
			return fmt.Errorf("effect %q: want allow or deny", f[5])
		}
	}
	r := &rule{Rule: Rule{File: file, Line: n, Subject: f[1], Resource: f[2], Action: f[3], Object: f[4], Effect: effect}, seq: ps.seq}
	if builtinRoles[r.Subject] && effect == Allow && !ps.builtin {
		return fmt.Errorf("%s is built in: a policy may deny things to it but not grant it more", r.Subject)
	}
	var err error
	for i, pat := range []*pattern{&r.resource, &r.action, &r.object} {
		if *pat, err = compilePattern(f[i+2]); err != nil {
			return fmt.Errorf("%s %q: %w", policyFields[i+1], f[i+2], err)
		}
	}
	if isLiteral(r.Resource) {
		if _, ok := resources[Resource(r.Resource)]; !ok {
			ps.warn(file, n, "resource %q is not one Lockstep checks", r.Resource)
		}
	}
	if isLiteral(r.Action) && !knownAction(r.Action) {
		ps.warn(file, n, "action %q is not one Lockstep checks (resource actions are spelled action/<group>/<kind>/<name>)", r.Action)
	}
	ps.seq++
	ps.p.rules[r.Subject] = append(ps.p.rules[r.Subject], r)
	return nil
}

func (ps *parser) groupLine(file string, n int, f []string) error {
	if len(f) != 3 {
		return fmt.Errorf("g line has %d fields: want g, user-or-group, role", len(f))
	}
	switch {
	case f[1] == "":
		return errors.New("empty user or group")
	case f[2] == "":
		return errors.New("empty role")
	case builtinRoles[f[1]] && !ps.builtin:
		return fmt.Errorf("%s is built in: a policy may not make it a member of %s", f[1], f[2])
	}
	ps.p.members[f[1]] = append(ps.p.members[f[1]], edge{from: f[1], to: f[2], file: file, line: n})
	return nil
}

func (ps *parser) warn(file string, n int, format string, args ...any) {
	ps.warnings = append(ps.warnings, fmt.Sprintf("%s:%d: ", file, n)+fmt.Sprintf(format, args...))
}
