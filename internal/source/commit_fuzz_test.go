package source

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// trailerKey is git's alphabet for a trailer key.
var trailerKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// FuzzParseTrailers feeds a commit message to parseTrailers. Invariants: every
// trailer has a key in git's alphabet and a one-line value without surrounding
// space, and the trailers written back as a message's last paragraph read back
// the same (so a value such as an Approved-by identity compares as written).
func FuzzParseTrailers(f *testing.F) {
	f.Add("Raise the replica count\n\nThe web tier needs headroom.\n\nApproved-by: Alice Example <alice@example.com>\nApproved-by: bob@example.com\nSigned-off-by: Carol <carol@example.com>\n")
	f.Add("Subject only\n")
	f.Add("Subject\r\n\r\nReviewed-by: A <a@x>\r\nApproved-by: B\r\n")
	f.Add("Subject\n\nKey: a long value\n  continued on the next line\n\tand another\n")
	f.Add("Subject\n\nNot a trailer paragraph.\nApproved-by: nobody\n")
	f.Add("Subject\n\nApproved-by:   \n")
	f.Add("Subject\n\nApproved-by: alice@example.com\n \t\n")
	f.Add("\n\n\nSubject\n\n\n\nx: y\n\n")
	f.Fuzz(func(t *testing.T, message string) {
		trailers := parseTrailers(message)
		if len(trailers) == 0 {
			return
		}
		var b strings.Builder
		b.WriteString("Subject\n\n")
		for _, tr := range trailers {
			if !trailerKey.MatchString(tr.Key) {
				t.Fatalf("trailer key %q is not in git's alphabet", tr.Key)
			}
			if tr.Value == "" || strings.ContainsAny(tr.Value, "\n") || strings.TrimSpace(tr.Value) != tr.Value {
				t.Fatalf("trailer %s has the value %q: empty, more than one line, or with surrounding space", tr.Key, tr.Value)
			}
			b.WriteString(tr.Key + ": " + tr.Value + "\n")
		}
		if again := parseTrailers(b.String()); !reflect.DeepEqual(again, trailers) {
			t.Fatalf("trailers %q, written back and read again: %q", trailers, again)
		}
	})
}
