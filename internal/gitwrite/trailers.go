package gitwrite

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// trailerKey is git's alphabet for a trailer's key, as source reads it.
var trailerKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// Message builds a commit message: the subject line, the body (may be
// empty) and the trailers, one "Key: value" line each in a last paragraph
// of their own, where git and source.Commit.Trailers read them
// (Lockstep-Rollback-To: <hash>, say). A key outside git's alphabet, or a
// value with a line break or another control character (which would end the
// trailer or forge the next), is refused.
func Message(subject, body string, trailers ...source.Trailer) (string, error) {
	subject = strings.TrimSpace(subject)
	switch {
	case subject == "":
		return "", errors.New("commit message: the subject is empty: say what the commit does")
	case strings.ContainsAny(subject, "\r\n"):
		return "", errors.New("commit message: the subject is more than one line: put the rest in the body")
	}
	var b strings.Builder
	b.WriteString(subject + "\n")
	if body = strings.TrimSpace(body); body != "" {
		b.WriteString("\n" + body + "\n")
	}
	for i, t := range trailers {
		if !trailerKey.MatchString(t.Key) {
			return "", fmt.Errorf("commit message: trailer key %q: want letters, digits and -, starting with a letter or digit", t.Key)
		}
		if strings.ContainsFunc(t.Value, unicode.IsControl) {
			return "", fmt.Errorf("commit message: trailer %s: the value holds a line break or another control character: give it on one line", t.Key)
		}
		// Trimmed, as git and source read it back.
		value := strings.TrimSpace(t.Value)
		if value == "" {
			return "", fmt.Errorf("commit message: trailer %s: the value is empty: give one, or leave the trailer out", t.Key)
		}
		if i == 0 {
			b.WriteString("\n")
		}
		b.WriteString(t.Key + ": " + value + "\n")
	}
	return b.String(), nil
}
