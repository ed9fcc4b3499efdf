package source

import (
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is what Git says about the revision a snapshot holds: enough to answer
// who changed what, when and why, and to verify a signature later.
type Commit struct {
	// Hash is the full commit hash.
	Hash string
	// Ref is the ref that resolved to it (refs/heads/main, refs/tags/v1.2.0);
	// empty for a pinned commit.
	Ref string
	// Author and Committer as "Name <email>".
	Author, Committer      string
	AuthorTime, CommitTime time.Time
	// Subject is the message's first line; Message the whole message.
	Subject, Message string
	// Trailers are the "Key: value" lines of the message's last paragraph, in order.
	Trailers []Trailer
	// Signature is the armored PGP or SSH signature, empty when unsigned.
	Signature string
	// SignedPayload is what Signature signs: the commit encoded without it.
	SignedPayload []byte
}

// Short is the hash's first 12 characters, as messages name a commit.
func (c Commit) Short() string {
	if len(c.Hash) > 12 {
		return c.Hash[:12]
	}
	return c.Hash
}

// Trailer is one "Key: value" line of a commit message's trailer block.
type Trailer struct {
	Key, Value string
}

// TrailerValues returns the values of every trailer whose key matches key,
// case-insensitively, as git compares them.
func (c Commit) TrailerValues(key string) []string {
	var vs []string
	for _, t := range c.Trailers {
		if strings.EqualFold(t.Key, key) {
			vs = append(vs, t.Value)
		}
	}
	return vs
}

func commitFromObject(c *object.Commit, ref plumbing.ReferenceName) (Commit, error) {
	out := Commit{
		Hash:       c.Hash.String(),
		Ref:        string(ref),
		Author:     c.Author.Name + " <" + c.Author.Email + ">",
		Committer:  c.Committer.Name + " <" + c.Committer.Email + ">",
		AuthorTime: c.Author.When,
		CommitTime: c.Committer.When,
		Message:    c.Message,
		Subject:    subject(c.Message),
		Trailers:   parseTrailers(c.Message),
		Signature:  c.PGPSignature,
	}
	if c.PGPSignature != "" {
		var payload plumbing.MemoryObject
		if err := c.EncodeWithoutSignature(&payload); err != nil {
			return Commit{}, err
		}
		rd, err := payload.Reader()
		if err != nil {
			return Commit{}, err
		}
		if out.SignedPayload, err = io.ReadAll(rd); err != nil {
			return Commit{}, err
		}
	}
	return out, nil
}

// Tag is an annotated tag: who tagged, and the signature over it.
type Tag struct {
	Name   string
	Tagger string
	// Signature is the armored PGP or SSH signature, empty when unsigned.
	Signature string
	// SignedPayload is what Signature signs: the tag encoded without it.
	SignedPayload []byte
}

func tagFromObject(t *object.Tag) (*Tag, error) {
	out := &Tag{Name: t.Name, Tagger: t.Tagger.Name + " <" + t.Tagger.Email + ">", Signature: t.PGPSignature}
	if t.PGPSignature != "" {
		var payload plumbing.MemoryObject
		if err := t.EncodeWithoutSignature(&payload); err != nil {
			return nil, err
		}
		rd, err := payload.Reader()
		if err != nil {
			return nil, err
		}
		if out.SignedPayload, err = io.ReadAll(rd); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func subject(message string) string {
	first, _, _ := strings.Cut(strings.TrimLeft(message, "\n"), "\n")
	return strings.TrimSpace(first)
}

// trailerLine is "Key: value" with git's key alphabet.
var trailerLine = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*\S)\s*$`)

// parseTrailers reads the trailer block: the message's last paragraph, when it is
// not also the subject and every line in it is a trailer (or a continuation line
// starting with whitespace). Like git, a paragraph with any other line is prose.
func parseTrailers(message string) []Trailer {
	paragraphs := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	if len(paragraphs) < 2 {
		return nil
	}
	var trailers []Trailer
	for _, line := range strings.Split(paragraphs[len(paragraphs)-1], "\n") {
		if len(trailers) > 0 && line != "" && (line[0] == ' ' || line[0] == '\t') {
			if more := strings.TrimSpace(line); more != "" {
				trailers[len(trailers)-1].Value += " " + more
			}
			continue
		}
		m := trailerLine.FindStringSubmatch(line)
		if m == nil {
			return nil
		}
		// The pattern's \s is ASCII space, tab and line ends only: a value is
		// also trimmed of \v and Unicode spaces, so it compares as written.
		value := strings.TrimSpace(m[2])
		if value == "" {
			return nil
		}
		trailers = append(trailers, Trailer{Key: m[1], Value: value})
	}
	return trailers
}
