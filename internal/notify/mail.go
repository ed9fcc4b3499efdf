package notify

import (
	"bytes"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// maxSubject keeps a subject on one readable line of a mail client's list.
const maxSubject = 200

// composeMail writes m as a plain-text mail (RFC 5322, CRLF line ends,
// quoted-printable UTF-8). Every header value is built by this function
// from single lines: a CR or LF in a message's text becomes a space, so no
// text can add a header.
func composeMail(from *mail.Address, to []*mail.Address, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	recipients := make([]string, len(to))
	for i, a := range to {
		recipients[i] = a.String()
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	header("From", from.String())
	header("To", strings.Join(recipients, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(mailSubject(m), maxSubject)))
	header("Date", now.Format(time.RFC1123Z))
	// The same for every try of one message, so that a mail sent twice
	// (an answer lost after the server took it) threads as one.
	header("Message-ID", "<"+messageID(m)+"@"+oneLine(domain, maxMailbox)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: out-of-office replies are not sent to machines.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(plainText(m))); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mailSubject is "[Lockstep] SyncFailed team-a/web at 1a2b3c4".
func mailSubject(m Message) string { return "[Lockstep] " + headline(m) }

// oneLine makes s a header value: control characters (CR and LF first)
// become spaces, runs of spaces one, and it is cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.Join(strings.Fields(s), " "), n)
}
