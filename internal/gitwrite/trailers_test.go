package gitwrite_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
)

func TestMessage(t *testing.T) {
	hash := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name          string
		subject, body string
		trailers      []source.Trailer
		want, wantErr string
	}{
		{name: "subject only", subject: "Promote web", want: "Promote web\n"},
		{name: "subject and body", subject: " Promote web ", body: "\nTo prod.\n\n", want: "Promote web\n\nTo prod.\n"},
		{name: "trailers after the body", subject: "Roll back web", body: "Because.",
			trailers: []source.Trailer{{Key: "Lockstep-Rollback-To", Value: hash}, {Key: "Signed-off-by", Value: " Ada <ada@example.com> "}},
			want:     "Roll back web\n\nBecause.\n\nLockstep-Rollback-To: " + hash + "\nSigned-off-by: Ada <ada@example.com>\n"},
		{name: "trailers without a body", subject: "Roll back web", trailers: []source.Trailer{{Key: "X1", Value: "v"}},
			want: "Roll back web\n\nX1: v\n"},
		{name: "no subject", subject: " \n", wantErr: "the subject is empty"},
		{name: "a two-line subject", subject: "a\nb", wantErr: "more than one line"},
		{name: "an empty key", subject: "s", trailers: []source.Trailer{{Key: "", Value: "v"}}, wantErr: `trailer key ""`},
		{name: "a key with a space", subject: "s", trailers: []source.Trailer{{Key: "Rollback To", Value: "v"}}, wantErr: `trailer key "Rollback To"`},
		{name: "a key with a colon", subject: "s", trailers: []source.Trailer{{Key: "A:B", Value: "v"}}, wantErr: `trailer key "A:B"`},
		{name: "a key starting with -", subject: "s", trailers: []source.Trailer{{Key: "-A", Value: "v"}}, wantErr: `trailer key "-A"`},
		{name: "a newline in a value", subject: "s", trailers: []source.Trailer{{Key: "A", Value: "v\nForged: yes"}}, wantErr: "trailer A: the value holds a line break"},
		{name: "a carriage return", subject: "s", trailers: []source.Trailer{{Key: "A", Value: "v\r"}}, wantErr: "line break"},
		{name: "an empty value", subject: "s", trailers: []source.Trailer{{Key: "A", Value: "  "}}, wantErr: "trailer A: the value is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gitwrite.Message(tc.subject, tc.body, tc.trailers...)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%q, %v; want an error with %q", got, err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Error(err)
			case tc.wantErr == "":
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}
