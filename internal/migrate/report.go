package migrate

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// FindingKind says how a source field fared in the translation. The kinds are
// ordered from the one a reviewer must read first to the one they may skim.
type FindingKind int

// Finding kinds, most urgent first.
const (
	// Looser: the Lockstep object allows more than the source did (a deny rule
	// or a signature requirement that has no equivalent).
	Looser FindingKind = iota
	// Invalid: the field's value is malformed (a wrong type, a bad duration);
	// it was ignored, or the object skipped when it was required.
	Invalid
	// Dropped: the field has no Lockstep equivalent and was left out; what
	// Lockstep does differs from what the source did.
	Dropped
	// Changed: the field was translated, but Lockstep's meaning differs in a
	// way the message says.
	Changed
	// Action: something to do by hand before the object works (create a
	// Secret, move a Kustomize option into kustomization.yaml).
	Action
)

var findingKindNames = [...]string{"LOOSER", "invalid", "not translated", "changed", "to do"}

func (k FindingKind) String() string {
	if int(k) < len(findingKindNames) {
		return findingKindNames[k]
	}
	return fmt.Sprintf("FindingKind(%d)", int(k))
}

// Finding is one field that did not translate as it was, and why.
type Finding struct {
	Kind FindingKind
	// Field is the source field's path (spec.syncPolicy.syncOptions[2]).
	Field string
	// Message says what happened and what to do instead.
	Message string
}

// SourceRef names a source object and where it was read.
type SourceRef struct {
	APIVersion, Kind, Namespace, Name string
	// File and Line locate the document ("-" for standard input).
	File string
	Line int
}

func (r SourceRef) String() string {
	id := r.Kind + "/"
	if r.Namespace != "" {
		id += r.Namespace + "/"
	}
	if r.Name == "" {
		id += "(no name)"
	} else {
		id += r.Name
	}
	return id
}

// Location is "file:line".
func (r SourceRef) Location() string {
	if r.Line > 0 {
		return fmt.Sprintf("%s:%d", r.File, r.Line)
	}
	return r.File
}

// Item is the report on one source object.
type Item struct {
	Source SourceRef
	// Produced names the Lockstep objects made from it (Application/ns/name,
	// Project/name).
	Produced []string
	// UsedBy names the objects that used it (a GitRepository is folded into
	// the Applications of the Kustomizations and HelmReleases naming it).
	UsedBy []string
	// Skipped says why nothing was made from it; empty when something was.
	Skipped string
	// Findings lists every field that did not translate as it was.
	Findings []Finding
}

func (it *Item) add(kind FindingKind, field, format string, args ...any) {
	it.Findings = append(it.Findings, Finding{Kind: kind, Field: field, Message: scrub(fmt.Sprintf(format, args...))})
}

func (it *Item) skip(format string, args ...any) {
	it.Skipped = scrub(fmt.Sprintf(format, args...))
}

// aURL is a URL in a message, up to white space or a quote.
var aURL = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*`)

// scrub takes credentials out of every URL in a message, whatever printed
// it: the report must never show a password (translators take them out
// first, with withoutCredentials; this is the second line).
func scrub(message string) string {
	return aURL.ReplaceAllStringFunc(message, func(u string) string {
		clean, _ := withoutCredentials(u)
		return clean
	})
}

// Report lists every source object, what was made from it and what did not
// translate. A partial translation is still a translation: what translated is
// in the Result, what did not is here.
type Report struct {
	Items []*Item
	// Unreadable lists inputs that could not be read or parsed (a missing
	// file, one over the size limit, a document that is not YAML).
	Unreadable []error
}

// Counts are the totals a summary line shows.
type Counts struct {
	Objects, Skipped, Applications, Projects, Findings, Looser, Unreadable int
}

// Counts totals the report.
func (r *Report) Counts() Counts {
	c := Counts{Objects: len(r.Items), Unreadable: len(r.Unreadable)}
	for _, it := range r.Items {
		if it.Skipped != "" {
			c.Skipped++
		}
		for _, p := range it.Produced {
			if strings.HasPrefix(p, "Project/") {
				c.Projects++
			} else {
				c.Applications++
			}
		}
		c.Findings += len(it.Findings)
		for _, f := range it.Findings {
			if f.Kind == Looser {
				c.Looser++
			}
		}
	}
	return c
}

// Write prints the report for people: one block per source object, findings
// most urgent first, then a summary line.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, err := range r.Unreadable {
		fmt.Fprintf(&b, "unreadable: %v\n", err)
	}
	if len(r.Unreadable) > 0 {
		b.WriteString("\n")
	}
	for _, it := range r.Items {
		fmt.Fprintf(&b, "%s %s (%s)\n", describe(it.Source), it.Source, it.Source.Location())
		if it.Skipped != "" {
			fmt.Fprintf(&b, "  skipped: %s\n", it.Skipped)
		}
		for _, p := range it.Produced {
			fmt.Fprintf(&b, "  -> %s\n", p)
		}
		if len(it.UsedBy) > 0 {
			fmt.Fprintf(&b, "  used by %s\n", strings.Join(it.UsedBy, ", "))
		}
		findings := append([]Finding(nil), it.Findings...)
		sort.SliceStable(findings, func(i, j int) bool { return findings[i].Kind < findings[j].Kind })
		for _, f := range findings {
			field := f.Field
			if field != "" {
				field += ": "
			}
			fmt.Fprintf(&b, "  %-14s %s%s\n", f.Kind, field, f.Message)
		}
	}
	c := r.Counts()
	fmt.Fprintf(&b, "\n%d source objects: %d Applications and %d Projects made, %d skipped; %d findings", c.Objects, c.Applications, c.Projects, c.Skipped, c.Findings)
	if c.Looser > 0 {
		fmt.Fprintf(&b, " (%d LOOSER: read them first)", c.Looser)
	}
	if c.Unreadable > 0 {
		fmt.Fprintf(&b, "; %d inputs unreadable", c.Unreadable)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// describe names the tool a source kind belongs to.
func describe(r SourceRef) string {
	group, _, _ := strings.Cut(r.APIVersion, "/")
	switch {
	case group == "argoproj.io":
		return "Argo CD"
	case strings.HasSuffix(group, ".toolkit.fluxcd.io"):
		return "Flux"
	default:
		return "object"
	}
}
