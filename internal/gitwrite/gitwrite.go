// Package gitwrite commits files to a branch of a Git repository and pushes
// the commit: the one way Lockstep writes to Git (lockstep bootstrap). It
// never force-pushes: a branch that moved meanwhile is an error to retry.
package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// Change is a folder of a branch to make hold exactly Files.
type Change struct {
	// URL of the repository (https:// or ssh://) and the credentials.
	URL  string
	Auth source.Auth
	// Branch to commit on; created when the repository is empty.
	Branch string
	// Dir is the folder, relative to the root; everything in it that Files
	// does not name is removed.
	Dir string
	// Files are the folder's files, by path relative to Dir.
	Files map[string][]byte
	// Only, when not nil, names the files (relative to Dir) the folder may
	// already hold: any other is an error, not removed (a mistyped folder
	// must not delete someone's manifests).
	Only []string
	// Author and committer, and the message.
	Name, Email, Message string
}

// Result says what Commit did.
type Result struct {
	// Commit is the branch's head afterwards.
	Commit string
	// Changed is false when the folder already held Files: nothing was
	// committed or pushed.
	Changed bool
}

// Commit writes c.Files into c.Dir on c.Branch, commits and pushes.
func Commit(ctx context.Context, c Change) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	auth, caBundle, release, err := source.Transport(c.URL, c.Auth)
	if err != nil {
		return Result{}, err
	}
	defer release()
	wt := memfs.New()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), wt, &git.CloneOptions{
		URL: c.URL, Auth: auth, CABundle: caBundle, ReferenceName: plumbing.NewBranchReferenceName(c.Branch), SingleBranch: true,
	})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		if repo, err = emptyRepository(wt, c); err != nil {
			return Result{}, err
		}
	case errors.As(err, new(git.NoMatchingRefSpecError)) || err != nil && strings.Contains(err.Error(), "couldn't find remote ref"):
		return Result{}, fmt.Errorf("%s has no branch %s: create it, or name another with --branch", c.URL, c.Branch)
	case err != nil:
		return Result{}, fmt.Errorf("cloning %s: %w", c.URL, err)
	}
	tree, err := repo.Worktree()
	if err != nil {
		return Result{}, err
	}
	if c.Only != nil {
		if err := onlyOwned(wt, c.Dir, c.Only); err != nil {
			return Result{}, err
		}
	}
	if err := replaceDir(wt, c.Dir, c.Files); err != nil {
		return Result{}, err
	}
	if err := tree.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return Result{}, err
	}
	status, err := tree.Status()
	if err != nil {
		return Result{}, err
	}
	if status.IsClean() {
		head, err := repo.Head()
		if err != nil {
			return Result{}, err
		}
		return Result{Commit: head.Hash().String()}, nil
	}
	who := &object.Signature{Name: c.Name, Email: c.Email, When: time.Now()}
	commit, err := tree.Commit(c.Message, &git.CommitOptions{Author: who, Committer: who})
	if err != nil {
		return Result{}, err
	}
	ref := config.RefSpec("refs/heads/" + c.Branch + ":refs/heads/" + c.Branch)
	err = repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{ref}, Auth: auth, CABundle: caBundle})
	if errors.Is(err, git.ErrNonFastForwardUpdate) || err != nil && strings.Contains(err.Error(), "non-fast-forward") {
		return Result{}, fmt.Errorf("%s moved on %s while this commit was made: run it again (nothing is ever force-pushed)", c.URL, c.Branch)
	}
	if err != nil {
		return Result{}, fmt.Errorf("pushing to %s: %w", c.URL, err)
	}
	return Result{Commit: commit.String(), Changed: true}, nil
}

func (c Change) check() error {
	switch {
	case c.Branch == "" || plumbing.NewBranchReferenceName(c.Branch).Validate() != nil:
		return fmt.Errorf("branch %q is not a branch name", c.Branch)
	case c.Name == "" || c.Email == "":
		return errors.New("a commit needs an author's name and email")
	case strings.TrimSpace(c.Message) == "":
		return errors.New("a commit needs a message")
	}
	if _, err := cleanDir(c.Dir); err != nil {
		return err
	}
	for name := range c.Files {
		if !fs.ValidPath(name) || name == "." || strings.HasPrefix(name, ".git/") || name == ".git" {
			return fmt.Errorf("file %q: want a relative path inside the folder", name)
		}
	}
	return nil
}

// cleanDir is dir as a path in the repository: relative, clean, not the
// root (a bootstrap that emptied the whole repository would be a disaster)
// and not in .git.
func cleanDir(dir string) (string, error) {
	d := path.Clean(strings.Trim(dir, "/"))
	if dir == "" || d == "." || !fs.ValidPath(d) || d == ".git" || strings.HasPrefix(d, ".git/") {
		return "", fmt.Errorf("folder %q: want a folder inside the repository, not its root", dir)
	}
	return d, nil
}

// emptyRepository starts the history of a repository that has none.
func emptyRepository(wt billy.Filesystem, c Change) (*git.Repository, error) {
	repo, err := git.Init(memory.NewStorage(), wt)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{c.URL}}); err != nil {
		return nil, err
	}
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(c.Branch))
	return repo, repo.Storer.SetReference(head)
}

// replaceDir makes dir hold exactly files.
func replaceDir(wt billy.Filesystem, dir string, files map[string][]byte) error {
	d, err := cleanDir(dir)
	if err != nil {
		return err
	}
	if err := removeAll(wt, d); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := path.Join(d, name)
		if err := wt.MkdirAll(path.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := wt.Create(p)
		if err != nil {
			return err
		}
		_, err = f.Write(files[name])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// onlyOwned refuses a folder holding files other than owned.
func onlyOwned(wt billy.Filesystem, dir string, owned []string) error {
	d, err := cleanDir(dir)
	if err != nil {
		return err
	}
	if info, err := wt.Lstat(d); err == nil && !info.IsDir() {
		return fmt.Errorf("%s is a file, not a folder: name the folder to write", dir)
	}
	var others []string
	var walk func(p string) error
	walk = func(p string) error {
		entries, err := wt.ReadDir(p)
		if err != nil {
			return nil // nothing there yet
		}
		for _, e := range entries {
			child := path.Join(p, e.Name())
			if e.IsDir() && e.Mode()&fs.ModeSymlink == 0 {
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			rel := strings.TrimPrefix(child, d+"/")
			if !slices.Contains(owned, rel) {
				others = append(others, rel)
			}
		}
		return nil
	}
	if err := walk(d); err != nil {
		return err
	}
	if len(others) > 0 {
		sort.Strings(others)
		return fmt.Errorf("%s already holds files this did not write (%s): name an empty folder, or replace them knowingly", dir, strings.Join(others, ", "))
	}
	return nil
}

func removeAll(wt billy.Filesystem, p string) error {
	info, err := wt.Lstat(p)
	if err != nil {
		return nil // nothing there yet
	}
	if info.IsDir() {
		entries, err := wt.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := removeAll(wt, path.Join(p, e.Name())); err != nil {
				return err
			}
		}
	}
	return wt.Remove(p)
}
