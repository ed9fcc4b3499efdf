package engine

import (
	"errors"
	"strings"
	"testing"
)

// A decrypted value is hidden from a render error as written, quoted the Go
// or JSON way, and line by line when a library prints it indented.
func TestDecryptedValuesAreScrubbedInEveryForm(t *testing.T) {
	r := &reader{decrypted: map[string][]string{"app/secret.yaml": {"first-line-s3cret\nsecond-line-s3cret <&>"}}}
	err := r.scrub(errors.New("node contents:\n    first-line-s3cret\n    second-line-s3cret <&>\n" +
		`quoted "first-line-s3cret\nsecond-line-s3cret <&>", json "first-line-s3cret\nsecond-line-s3cret \u003c\u0026\u003e"`))
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a decrypted value leaked: %v", err)
	}
}
