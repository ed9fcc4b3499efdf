package cli

import (
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"github.com/lockstep-dev/lockstep/internal/release"
)

// maxMarkdown keeps a preview under the comment limits of the forges a CI
// job posts it to (GitHub's is 65,536 characters; GitLab's and Gitea's are
// larger): diffs that do not fit are listed, not shown.
const maxMarkdown = 60000

// maxMarkdownRows bounds the table of objects (and a tenth of it the list of
// unmet checks), so that the table alone cannot pass maxMarkdown.
const maxMarkdownRows = 200

// WritePreviewMarkdown writes a preview as a pull request comment: the
// commit and its checks, a table of what changes, and each diff folded
// under its object. Everything that came from Git or the cluster is escaped:
// a commit subject or an object's field cannot add links, mentions or HTML.
func WritePreviewMarkdown(out io.Writer, pv pass.Preview) error {
	var b strings.Builder
	what := "its followed ref"
	if pv.Requested != "" {
		what = pv.Requested
	}
	fmt.Fprintf(&b, "### Lockstep preview of %s at %s (%s)\n\n", mdCode(pv.Application), mdCode(short(pv.Revision)), mdText(what))
	if pv.Subject != "" {
		fmt.Fprintf(&b, "> %s — %s\n\n", mdText(pv.Subject), mdText(authorName(pv.Author)))
	}
	checks := []string{}
	if pv.VerifiedBy != "" {
		checks = append(checks, "signature verified with "+mdCode(pv.VerifiedBy))
	}
	if len(pv.Approvers) > 0 {
		checks = append(checks, "approved by "+mdText(strings.Join(pv.Approvers, ", ")))
	}
	if pv.Rollback {
		checks = append(checks, "a **rollback**: it does not descend from the commit applied")
	}
	if len(checks) > 0 {
		fmt.Fprintf(&b, "%s\n\n", strings.Join(checks, " · "))
	}
	if len(pv.Unmet) > 0 {
		b.WriteString("**Not yet met** — a sync of this revision would be refused until they are:\n\n")
		for i, u := range pv.Unmet {
			if i == maxMarkdownRows/10 {
				fmt.Fprintf(&b, "- and %d more\n", len(pv.Unmet)-i)
				break
			}
			fmt.Fprintf(&b, "- %s: %s\n", mdCode(u.Reason), mdText(pass.Truncate(u.Message, 1000)))
		}
		b.WriteString("\n")
	}
	if pv.Refused != nil {
		fmt.Fprintf(&b, "**Refused** (%s): %s\n", mdCode(pv.Refused.Reason), mdText(pv.Refused.Message))
		_, err := io.WriteString(out, b.String())
		return err
	}
	if pv.InSync {
		b.WriteString("**In sync**: a sync would change nothing.\n")
		_, err := io.WriteString(out, b.String())
		return err
	}
	writeCounts(&b, pv.Counts)
	steps := changedSteps(pv)
	b.WriteString("| | object | changed fields |\n|---|---|---|\n")
	for i, s := range steps {
		if i == maxMarkdownRows {
			fmt.Fprintf(&b, "| | and %d more objects | |\n", len(steps)-i)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", verb(s.Action), mdCode(stepName(s)), mdFields(s.ChangedFields))
	}
	b.WriteString("\n")
	left := 0
	for _, s := range steps {
		if s.Diff == "" {
			continue
		}
		block := fmt.Sprintf("<details><summary>%s %s</summary>\n\n%s\n</details>\n\n", verb(s.Action), html.EscapeString(stepName(s)), mdFence("diff", s.Diff))
		if b.Len()+len(block) > maxMarkdown {
			left++
			continue
		}
		b.WriteString(block)
	}
	if left > 0 {
		fmt.Fprintf(&b, "%d more diffs do not fit in a comment: `lockstep diff %s` shows them.\n", left, pv.Application)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// changedSteps are the steps that change something, wave by wave.
func changedSteps(pv pass.Preview) []pass.PreviewStep {
	var out []pass.PreviewStep
	for _, w := range pv.Waves {
		out = append(out, w.Steps...)
	}
	return out
}

func writeCounts(b *strings.Builder, counts map[plan.Action]int) {
	var parts []string
	for _, a := range []plan.Action{plan.Create, plan.Update, plan.Prune, plan.Keep, plan.Unchanged} {
		if n := counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, verb(a)))
		}
	}
	fmt.Fprintf(b, "**Would change:** %s\n\n", strings.Join(parts, " · "))
}

func verb(a plan.Action) string { return strings.ToLower(string(a)) }

func stepName(s pass.PreviewStep) string {
	if s.Namespace == "" {
		return s.Kind + "/" + s.Name
	}
	return s.Kind + "/" + s.Namespace + "/" + s.Name
}

func mdFields(fields []string) string {
	return joinAtMost(fields, 8, mdCode, "and %d more")
}

// mdText is s as plain text in Markdown, on one line: what Markdown or HTML
// would read as markup is escaped, and a mention cannot notify anyone.
func mdText(s string) string {
	s = release.Printable(oneLine(s))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '@':
			b.WriteString("@\u2060") // a word joiner: no mention
		case strings.ContainsRune("\\`*_{}[]()#+-.!|~", r):
			b.WriteRune('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCode is s as an inline code span on one line: delimited by one more
// backtick than the longest run inside it, so nothing in s ends it early;
// a pipe is escaped, as a table cell needs.
func mdCode(s string) string {
	s = strings.ReplaceAll(release.Printable(oneLine(s)), "|", "\\|")
	if s == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

// mdFence is text as a fenced code block whose fence is longer than any run
// of backticks in it.
func mdFence(lang, text string) string {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fence + lang + "\n" + text + fence + "\n"
}

func longestRun(s string, c rune) int {
	longest, run := 0, 0
	for _, r := range s {
		if r == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
