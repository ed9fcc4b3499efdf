package gitserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a bare repository on the server that helpers write to directly, without a
// clone. Pushes from clients land in the same repository.
type Repo struct {
	// Name is the repository's name without .git, as used in its URLs.
	Name string
	// Path is the bare repository's folder.
	Path string

	mu     sync.Mutex // serialises writes through this Repo
	repo   *git.Repository
	server *Server
}

// Person identifies an author or committer.
type Person struct {
	Name  string
	Email string
}

// CommitOptions describe a commit.
type CommitOptions struct {
	// Branch to commit on; "main" when empty. Its current head is the parent.
	Branch string
	// Files maps slash-separated paths to contents. A nil content deletes the file.
	// Files not named keep their content from the parent.
	Files map[string][]byte
	// Symlinks maps paths to link targets, for tests of how links are handled.
	Symlinks map[string]string
	// Message is the full commit message, trailers included.
	Message string
	// Author and Committer; a fixed test identity when zero. Committer defaults to
	// Author.
	Author, Committer Person
	// When is the commit time; now when zero.
	When time.Time
	// Signer signs the commit (see PGPSigner and SSHSigner); unsigned when nil.
	Signer git.Signer
}

// CreateRepo creates an empty bare repository whose default branch is main.
func (s *Server) CreateRepo(name string) (*Repo, error) {
	dir := filepath.Join(s.reposDir(), name+".git")
	if !repoName.MatchString(name+".git") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("invalid repository name %q", name)
	}
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("repository %q already exists", name)
	}
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return nil, fmt.Errorf("creating repository %q: %w", name, err)
	}
	return &Repo{Name: name, Path: dir, repo: r, server: s}, nil
}

// Commit writes a commit with opts.Files applied to the branch head and moves the
// branch to it. It returns the new commit's hash.
func (r *Repo) Commit(opts CommitOptions) (hash string, err error) {
	r.pushed(func() { hash, err = r.commit(opts) })
	return hash, err
}

// pushed runs change, which moves refs, and tells the server's webhooks.
func (r *Repo) pushed(change func()) {
	if r.server == nil {
		change()
		return
	}
	r.server.afterPush(r.Name, r.Path, change)
}

func (r *Repo) commit(opts CommitOptions) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if opts.Branch == "" {
		opts.Branch = "main"
	}
	if err := r.reopen(); err != nil {
		return "", err
	}
	ref := plumbing.NewBranchReferenceName(opts.Branch)
	files := map[string]treeFile{}
	var parents []plumbing.Hash
	head, err := r.repo.Reference(ref, true)
	switch {
	case err == nil:
		parents = []plumbing.Hash{head.Hash()}
		if files, err = r.flatten(head.Hash()); err != nil {
			return "", err
		}
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return "", fmt.Errorf("reading branch %s: %w", opts.Branch, err)
	}
	for name, content := range opts.Files {
		name, err := cleanPath(name)
		if err != nil {
			return "", err
		}
		if content == nil {
			delete(files, name)
			continue
		}
		h, err := r.writeObject(plumbing.BlobObject, content)
		if err != nil {
			return "", err
		}
		files[name] = treeFile{hash: h, mode: filemode.Regular}
	}
	for name, target := range opts.Symlinks {
		name, err := cleanPath(name)
		if err != nil {
			return "", err
		}
		h, err := r.writeObject(plumbing.BlobObject, []byte(target))
		if err != nil {
			return "", err
		}
		files[name] = treeFile{hash: h, mode: filemode.Symlink}
	}
	tree, err := r.writeTree(files, "")
	if err != nil {
		return "", err
	}
	author, committer := signature(opts.Author, opts.When), signature(opts.Committer, opts.When)
	if opts.Committer == (Person{}) {
		committer = author
	}
	c := &object.Commit{Author: author, Committer: committer, Message: opts.Message, TreeHash: tree, ParentHashes: parents}
	if opts.Signer != nil {
		sig, err := sign(opts.Signer, c)
		if err != nil {
			return "", fmt.Errorf("signing commit: %w", err)
		}
		c.PGPSignature = sig
	}
	h, err := r.storeEncoded(c)
	if err != nil {
		return "", err
	}
	// Move the branch only if nobody pushed to it since it was read.
	if err := r.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(ref, h), head); err != nil {
		return "", fmt.Errorf("moving %s (a concurrent push?): %w", opts.Branch, err)
	}
	return h.String(), nil
}

// TagOptions describe an annotated tag.
type TagOptions struct {
	Message string
	Tagger  Person
	When    time.Time
	// Signer signs the tag; unsigned when nil.
	Signer git.Signer
}

// Tag creates an annotated tag name pointing at commit.
func (r *Repo) Tag(name, commit string, opts TagOptions) (err error) {
	r.pushed(func() { err = r.tag(name, commit, opts) })
	return err
}

func (r *Repo) tag(name, commit string, opts TagOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reopen(); err != nil {
		return err
	}
	if opts.Message == "" {
		opts.Message = name
	}
	t := &object.Tag{
		Name:       name,
		Tagger:     signature(opts.Tagger, opts.When),
		Message:    strings.TrimSuffix(opts.Message, "\n") + "\n",
		TargetType: plumbing.CommitObject,
		Target:     plumbing.NewHash(commit),
	}
	if _, err := r.repo.CommitObject(t.Target); err != nil {
		return fmt.Errorf("tag %s: commit %s: %w", name, commit, err)
	}
	if opts.Signer != nil {
		sig, err := sign(opts.Signer, t)
		if err != nil {
			return fmt.Errorf("signing tag %s: %w", name, err)
		}
		t.PGPSignature = sig
	}
	h, err := r.storeEncoded(t)
	if err != nil {
		return err
	}
	return r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(name), h))
}

// CopyTag points tag to at the annotated tag object of from, as pushing a
// signed tag under another name would: for tests of a replayed tag.
func (r *Repo) CopyTag(from, to string) (err error) {
	r.pushed(func() { err = r.copyTag(from, to) })
	return err
}

func (r *Repo) copyTag(from, to string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reopen(); err != nil {
		return err
	}
	ref, err := r.repo.Reference(plumbing.NewTagReferenceName(from), false)
	if err != nil {
		return fmt.Errorf("tag %s: %w", from, err)
	}
	return r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(to), ref.Hash()))
}

// Head returns the commit a branch points at.
func (r *Repo) Head(branch string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return "", fmt.Errorf("branch %s: %w", branch, err)
	}
	return ref.Hash().String(), nil
}

// reopen reads the repository afresh: go-git caches pack indexes, so packs that
// clients pushed since the last write would otherwise be invisible.
func (r *Repo) reopen() error {
	repo, err := git.PlainOpen(r.Path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", r.Path, err)
	}
	r.repo = repo
	return nil
}

// cleanPath normalises a file path of a commit and refuses paths that leave the
// tree or touch .git.
func cleanPath(name string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "/"))
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("invalid file path %q", name)
	}
	for _, seg := range strings.Split(clean, "/") {
		if strings.EqualFold(seg, ".git") {
			return "", fmt.Errorf("invalid file path %q: .git is reserved", name)
		}
	}
	return clean, nil
}

type treeFile struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// flatten lists every file of a commit's tree by path.
func (r *Repo) flatten(commit plumbing.Hash) (map[string]treeFile, error) {
	c, err := r.repo.CommitObject(commit)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	files := map[string]treeFile{}
	err = tree.Files().ForEach(func(f *object.File) error {
		files[f.Name] = treeFile{hash: f.Hash, mode: f.Mode}
		return nil
	})
	return files, err
}

// writeTree writes the tree for the files under dir (all files when dir is "")
// and its subtrees, returning its hash.
func (r *Repo) writeTree(files map[string]treeFile, dir string) (plumbing.Hash, error) {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	subdirs := map[string]bool{}
	var entries []object.TreeEntry
	for name, f := range files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if first, _, nested := strings.Cut(rest, "/"); nested {
			subdirs[first] = true
			continue
		}
		entries = append(entries, object.TreeEntry{Name: rest, Mode: f.mode, Hash: f.hash})
	}
	for sub := range subdirs {
		h, err := r.writeTree(files, prefix+sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: sub, Mode: filemode.Dir, Hash: h})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	return r.storeEncoded(&object.Tree{Entries: entries})
}

type encodable interface {
	Encode(plumbing.EncodedObject) error
}

func (r *Repo) storeEncoded(o encodable) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

func (r *Repo) writeObject(t plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(t)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// signableObject is a commit or tag: what git signs is its encoding without the
// signature header.
type signableObject interface {
	EncodeWithoutSignature(plumbing.EncodedObject) error
}

func sign(signer git.Signer, o signableObject) (string, error) {
	var encoded plumbing.MemoryObject
	if err := o.EncodeWithoutSignature(&encoded); err != nil {
		return "", err
	}
	rd, err := encoded.Reader()
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(rd)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(sig, "\n")) + "\n", nil
}

// defaultPerson is who commits when a test does not say.
var defaultPerson = Person{Name: "Lockstep Test", Email: "test@lockstep.invalid"}

func signature(p Person, when time.Time) object.Signature {
	if p == (Person{}) {
		p = defaultPerson
	}
	if when.IsZero() {
		when = time.Now()
	}
	return object.Signature{Name: p.Name, Email: p.Email, When: when.Truncate(time.Second)}
}
