package gitserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Webhook is where the server sends a push event after every push (over
// HTTPS or SSH, or a Commit or Tag made here), as Gitea does: Gitea's
// payload, signed with Secret in X-Gitea-Signature. Events are sent in the
// background after the push returns, so a test measuring from the push sees
// what a real server costs.
type Webhook struct {
	URL    string
	Secret []byte
	// RootCAs trusts the receiver's certificate; the system's when nil.
	RootCAs *x509.CertPool
}

// AddWebhook sends every later push to h.
func (s *Server) AddWebhook(h Webhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks = append(s.webhooks, h)
}

// refs are a repository's refs and the commits (or tags) they point at.
type refs map[plumbing.ReferenceName]plumbing.Hash

func readRefs(path string) refs {
	out := refs{}
	repo, err := git.PlainOpen(path)
	if err != nil {
		return out
	}
	iter, err := repo.References()
	if err != nil {
		return out
	}
	_ = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && (ref.Name().IsBranch() || ref.Name().IsTag()) {
			out[ref.Name()] = ref.Hash()
		}
		return nil
	})
	return out
}

// afterPush runs change, and sends an event for each ref it moved.
func (s *Server) afterPush(repoName, path string, change func()) {
	s.mu.Lock()
	hooks := slices.Clone(s.webhooks)
	s.mu.Unlock()
	if len(hooks) == 0 {
		change()
		return
	}
	before := readRefs(path)
	change()
	after := readRefs(path)
	var events [][]byte
	for name, now := range after {
		if was := before[name]; was != now {
			events = append(events, s.pushPayload(repoName, path, name, was, now))
		}
	}
	for name, was := range before {
		if _, ok := after[name]; !ok {
			events = append(events, s.pushPayload(repoName, path, name, was, plumbing.ZeroHash))
		}
	}
	for _, body := range events {
		for _, h := range hooks {
			go s.send(h, body)
		}
	}
}

// pushPayload is Gitea's push event for ref moving from was to now, with the
// files changed between them when both are commits (one entry for all the
// pushed commits: the receiver reads only their union).
func (s *Server) pushPayload(repoName, path string, ref plumbing.ReferenceName, was, now plumbing.Hash) []byte {
	commits := []map[string]any{}
	if files, ok := changedFiles(path, was, now); ok {
		commits = append(commits, map[string]any{"id": now.String(), "added": []string{}, "modified": files, "removed": []string{}})
	}
	body, _ := json.Marshal(map[string]any{
		"ref": ref.String(), "before": was.String(), "after": now.String(),
		"repository": map[string]any{"name": repoName, "full_name": "lockstep/" + repoName,
			"clone_url": s.HTTPSURL(repoName), "ssh_url": s.SSHURL(repoName)},
		"commits": commits,
	})
	return body
}

// changedFiles are the paths that differ between two commits' trees.
func changedFiles(path string, was, now plumbing.Hash) ([]string, bool) {
	if was.IsZero() || now.IsZero() {
		return nil, false
	}
	repo, err := git.PlainOpen(path)
	if err != nil {
		return nil, false
	}
	tree := func(h plumbing.Hash) *object.Tree {
		c, err := repo.CommitObject(h)
		if err != nil {
			return nil
		}
		t, _ := c.Tree()
		return t
	}
	a, b := tree(was), tree(now)
	if a == nil || b == nil {
		return nil, false
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		return nil, false
	}
	files := []string{}
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" && !slices.Contains(files, name) {
				files = append(files, name)
			}
		}
	}
	return files, true
}

// send posts one event, signed; a receiver that fails is told on stderr
// (a dev server's log), not retried.
func (s *Server) send(h Webhook, body []byte) {
	mac := hmac.New(sha256.New, h.Secret)
	mac.Write(body)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockstep-git: webhook:", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.RootCAs, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockstep-git: webhook:", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(os.Stderr, "lockstep-git: webhook answered %s: %s\n", resp.Status, strings.TrimSpace(string(msg)))
	}
}
