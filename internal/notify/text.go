package notify

import (
	"fmt"
	"strings"
	"time"
)

// The longest texts a message carries: chat services refuse or cut long
// posts (Slack at 40,000 characters, Teams at 28 KB a card), and a summary
// is one line of what happened, an error at most.
const (
	maxValue   = 1000
	maxSummary = 4000
)

// fact is one labelled value of a message: a chat field, a card fact, a
// line of a mail.
type fact struct{ Name, Value string }

// headline names what happened to what: "SyncFailed team-a/web at
// 1a2b3c4". Mail subjects, chat titles and alert summaries start with it.
func headline(m Message) string {
	h := string(m.Trigger) + " " + m.Application
	if r := shortRevision(m.Revision); r != "" {
		h += " at " + r
	}
	return truncate(h, maxValue)
}

// facts are the message's details, in the order people read them, the
// empty ones left out.
func facts(m Message) []fact {
	revision := shortRevision(m.Revision)
	if revision != "" && m.Subject != "" {
		revision += " " + m.Subject
	}
	committer := m.Committer
	if committer == m.Author {
		committer = ""
	}
	status := strings.Trim(m.Sync+", "+m.Health, ", ")
	destination := m.Namespace
	if m.Cluster != "" {
		destination = strings.Trim(m.Cluster+"/"+m.Namespace, "/")
	}
	all := []fact{
		{"Application", m.Application},
		{"Project", m.Project},
		{"Revision", revision},
		{"Author", m.Author},
		{"Committer", committer},
		{"Approvers", strings.Join(m.Approvers, ", ")},
		{"Ledger", ledgerRefs(m.Records)},
		{"Status", status},
		{"Reason", m.Reason},
		{"Destination", destination},
		{"Repository", m.Repository},
	}
	out := all[:0]
	for _, f := range all {
		if f.Value != "" {
			out = append(out, fact{f.Name, truncate(f.Value, maxValue)})
		}
	}
	return out
}

// summary is the message's one line of what happened, cut to a size every
// receiver takes.
func summary(m Message) string { return truncate(m.Summary, maxSummary) }

// plainText is the whole message as text: mail bodies and Matrix's body.
func plainText(m Message) string {
	var b strings.Builder
	b.WriteString(headline(m))
	b.WriteString("\n")
	if s := summary(m); s != "" {
		b.WriteString("\n" + s + "\n")
	}
	b.WriteString("\n")
	for _, f := range facts(m) {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
	}
	if !m.Time.IsZero() {
		fmt.Fprintf(&b, "Time: %s\n", m.Time.UTC().Format(time.RFC3339))
	}
	if m.URL != "" {
		fmt.Fprintf(&b, "\n%s\n", truncate(m.URL, maxValue))
	}
	return b.String()
}

// shortRevision is a commit hash as people write it (7 characters).
func shortRevision(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// ledgerRefs names ledger records as the CLI does: "#12, #13".
func ledgerRefs(records []RecordRef) string {
	refs := make([]string, len(records))
	for i, r := range records {
		refs[i] = fmt.Sprintf("#%d", r.Seq)
	}
	return strings.Join(refs, ", ")
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "�")
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
