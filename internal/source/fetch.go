package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// transportAuth is the go-git authentication for one fetch, and what to clean up.
type transportAuth struct {
	auth     transport.AuthMethod
	caBundle []byte
	cleanup  func()
}

func (t *transportAuth) close() {
	if t.cleanup != nil {
		t.cleanup()
	}
}

func newTransport(req Request) (*transportAuth, error) {
	t := &transportAuth{caBundle: req.Auth.CABundle}
	if strings.HasPrefix(req.URL, "https://") {
		if req.Auth.Username != "" || req.Auth.Password != "" {
			user := req.Auth.Username
			if user == "" {
				user = "git" // token-only credentials: servers ignore the name
			}
			t.auth = &githttp.BasicAuth{Username: user, Password: req.Auth.Password}
		}
		return t, nil
	}
	// SSH: a key and known hosts are both required.
	if len(req.Auth.SSHPrivateKey) == 0 {
		return nil, errors.New("an ssh:// URL needs an SSH private key (key 'identity' of the secretRef Secret)")
	}
	if len(req.Auth.KnownHosts) == 0 {
		return nil, errors.New("an ssh:// URL needs known_hosts (key 'known_hosts' of the secretRef Secret); host keys are never accepted blindly")
	}
	user := "git"
	if u, err := url.Parse(req.URL); err == nil && u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	keys, err := gitssh.NewPublicKeys(user, req.Auth.SSHPrivateKey, "")
	if err != nil {
		return nil, fmt.Errorf("parsing the SSH private key: %w", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, err
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort += ":22"
	}
	cleanup, err := knownHosts(keys, req.Auth.KnownHosts, hostPort)
	if err != nil {
		return nil, err
	}
	t.auth, t.cleanup = keys, cleanup
	return t, nil
}

// knownHosts configures keys to check host keys against known_hosts content, and
// to offer only the host key algorithms known_hosts holds for the host (go-git
// does that only for its default ~/.ssh database). The knownhosts package reads
// files only, so the content goes to a private temporary file for the fetch.
func knownHosts(keys *gitssh.PublicKeys, content []byte, hostPort string) (cleanup func(), err error) {
	f, err := os.CreateTemp("", "lockstep-known-hosts-")
	if err != nil {
		return nil, err
	}
	cleanup = func() { _ = os.Remove(f.Name()) }
	_, werr := f.Write(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		cleanup()
		return nil, werr
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(hostPort)
	return cleanup, nil
}

// resolveAndFetch lists the remote's refs, picks the commit req.Ref names, and
// fetches it unless the cache already holds it. Called holding the fetch slot.
func (r *cachedRepo) resolveAndFetch(ctx context.Context, req Request, t *transportAuth) (resolution, error) {
	remote, err := r.repo.Remote("origin")
	if err != nil {
		return resolution{}, err
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: t.auth, CABundle: t.caBundle})
	if err != nil {
		return resolution{}, fmt.Errorf("listing refs: %w", err)
	}
	name, hash, err := pickRef(refs, req.Ref)
	if err != nil {
		return resolution{}, err
	}
	if _, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, hash); err != nil {
		// Whole histories, not the tip only: whether a new commit descends from
		// the applied one (or rolls it back) is read from them (see Descends).
		// After the first fetch, a fetch brings only what is new.
		specs := []config.RefSpec{config.RefSpec("+" + name + ":" + name)}
		if name == "" { // a pinned commit: fetch every branch and tag
			specs = []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
		}
		err := r.repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin", RefSpecs: specs, Auth: t.auth, CABundle: t.caBundle,
			Tags: git.NoTags, Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return resolution{}, fmt.Errorf("fetching %s: %w", refOrHash(name, hash), err)
		}
		r.mu.Lock()
		r.fetches++
		r.mu.Unlock()
	}
	commit, err := r.peel(hash)
	if err != nil {
		return resolution{}, err
	}
	res := resolution{hash: commit, ref: name}
	if commit != hash {
		res.tag = hash
	}
	return res, nil
}

// pickRef chooses the ref and hash req names from the remote's refs.
func pickRef(refs []*plumbing.Reference, want Ref) (plumbing.ReferenceName, plumbing.Hash, error) {
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, ref := range refs {
		byName[ref.Name()] = ref
	}
	lookup := func(name plumbing.ReferenceName) (plumbing.ReferenceName, plumbing.Hash, error) {
		ref, ok := byName[name]
		if !ok || ref.Type() != plumbing.HashReference {
			return "", plumbing.ZeroHash, fmt.Errorf("%s not found in the repository", name)
		}
		return name, ref.Hash(), nil
	}
	switch {
	case want.Branch != "":
		return lookup(plumbing.NewBranchReferenceName(want.Branch))
	case want.Tag != "":
		return lookup(plumbing.NewTagReferenceName(want.Tag))
	case want.Commit != "":
		return "", plumbing.NewHash(want.Commit), nil
	case want.Semver != "":
		return pickSemver(refs, want.Semver)
	}
	// The default branch: where the remote's HEAD points.
	if head, ok := byName[plumbing.HEAD]; ok {
		if head.Type() == plumbing.SymbolicReference {
			return lookup(head.Target())
		}
		for _, candidate := range []string{"main", "master"} {
			if ref, ok := byName[plumbing.NewBranchReferenceName(candidate)]; ok && ref.Hash() == head.Hash() {
				return ref.Name(), ref.Hash(), nil
			}
		}
		return plumbing.HEAD, head.Hash(), nil
	}
	return "", plumbing.ZeroHash, errors.New("the repository has no HEAD; name a branch, tag or commit")
}

// pickSemver returns the tag with the highest version inside the range.
func pickSemver(refs []*plumbing.Reference, constraint string) (plumbing.ReferenceName, plumbing.Hash, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("invalid semver range %q: %w", constraint, err)
	}
	type candidate struct {
		version *semver.Version
		ref     *plumbing.Reference
	}
	var matches []candidate
	for _, ref := range refs {
		if !ref.Name().IsTag() || ref.Type() != plumbing.HashReference {
			continue
		}
		v, err := semver.NewVersion(ref.Name().Short())
		if err != nil || !c.Check(v) {
			continue
		}
		matches = append(matches, candidate{v, ref})
	}
	if len(matches) == 0 {
		return "", plumbing.ZeroHash, fmt.Errorf("no tag matches semver range %q", constraint)
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].version.GreaterThan(matches[j].version) })
	return matches[0].ref.Name(), matches[0].ref.Hash(), nil
}

// peel follows annotated tags to the commit they point at.
func (r *cachedRepo) peel(hash plumbing.Hash) (plumbing.Hash, error) {
	for range 10 { // tags of tags, bounded
		if tag, err := r.repo.TagObject(hash); err == nil {
			hash = tag.Target
			continue
		}
		if _, err := r.repo.CommitObject(hash); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%s is not a commit the server sent: %w", hash, err)
		}
		return hash, nil
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: too many nested tags", hash)
}

func refOrHash(name plumbing.ReferenceName, hash plumbing.Hash) string {
	if name != "" {
		return string(name)
	}
	return hash.String()
}

// isTransient tells network trouble (worth retrying as is) from errors that need
// a change: bad credentials, a missing repository or ref.
func isTransient(err error) bool {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return false
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false // the CA bundle needs fixing; retrying changes nothing
	}
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "unexpected EOF")
}

// Transport is what go-git needs to reach url with a's credentials, for the
// commands that write to Git (lockstep bootstrap): the same rules as a fetch
// (SSH needs known_hosts, HTTPS trusts a's CA bundle when given). Call
// release when done.
func Transport(url string, a Auth) (auth transport.AuthMethod, caBundle []byte, release func(), err error) {
	t, err := newTransport(Request{URL: url, Auth: a})
	if err != nil {
		return nil, nil, nil, err
	}
	return t.auth, t.caBundle, t.close, nil
}
