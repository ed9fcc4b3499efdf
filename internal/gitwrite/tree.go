package gitwrite

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Tree is a checkout of the branch an edit changes, and its history. It
// lives in memory: nothing an edit does reaches the local disk.
//
// Paths are slash-separated and relative to the repository's root. The
// helpers refuse absolute paths, "..", unclean paths and anything in .git;
// whatever an edit leaves in a .git folder through FS is refused before the
// commit.
type Tree struct {
	fs     billy.Filesystem
	repo   *git.Repository
	head   plumbing.Hash // zero for an empty repository
	branch string        // for errors
}

// FS is the worktree itself, for what the helpers do not cover (listing a
// folder, say).
func (t *Tree) FS() billy.Filesystem { return t.fs }

// Head is the full hash of the commit checked out; empty for an empty
// repository.
func (t *Tree) Head() string {
	if t.head.IsZero() {
		return ""
	}
	return t.head.String()
}

// ReadFile returns the content of the file name; for a missing file, an
// error that wraps fs.ErrNotExist. A symbolic link is not followed: reading
// one is an error.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	p, err := repoPath(name)
	if err != nil {
		return nil, err
	}
	info, err := t.fs.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("reading %s: it is a symbolic link; read its target with FS().Readlink", p)
	}
	f, err := t.fs.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile makes name a regular file holding data, creating the folders
// above it. A symbolic link there is replaced, not written through.
func (t *Tree) WriteFile(name string, data []byte) error {
	p, err := repoPath(name)
	if err != nil {
		return err
	}
	return t.write(p, blob{mode: filemode.Regular, content: data})
}

// Remove removes the file or folder name, with everything in it. Nothing
// there is not an error, so that an edit run again on a newer head that
// already lacks it still succeeds.
func (t *Tree) Remove(name string) error {
	p, err := repoPath(name)
	if err != nil {
		return err
	}
	return removeAll(t.fs, p)
}

// FilesAt returns the files under dir ("." or "" for all) in the commit rev, by
// path relative to dir. rev is a full hash, or a prefix of at least 7 hex
// digits naming one commit of the branch's history. A folder rev does not
// hold gives an empty map: Git has no empty folders.
func (t *Tree) FilesAt(rev, dir string) (map[string][]byte, error) {
	blobs, err := t.blobsAt(rev, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(blobs))
	for name, b := range blobs {
		out[name] = b.content
	}
	return out, nil
}

// blob is a file as a commit holds it: its content (a symbolic link's is
// its target) and its mode.
type blob struct {
	mode    filemode.FileMode
	content []byte
}

func (t *Tree) blobsAt(rev, dir string) (map[string]blob, error) {
	c, err := t.commit(rev)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rev, err)
	}
	if dir != "." && dir != "" {
		d, err := repoPath(dir)
		if err != nil {
			return nil, err
		}
		sub, err := tree.Tree(d)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			if _, ferr := tree.File(d); ferr == nil {
				return nil, fmt.Errorf("%s is a file in commit %s, not a folder: name the folder that holds it", d, rev)
			}
			return map[string]blob{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s in commit %s: %w", d, rev, err)
		}
		tree = sub
	}
	out := map[string]blob{}
	err = tree.Files().ForEach(func(f *object.File) error {
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		content, err := io.ReadAll(r)
		out[f.Name] = blob{mode: f.Mode, content: content}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s in commit %s: %w", dir, rev, err)
	}
	return out, nil
}

// commit resolves rev in the branch's history (the clone holds nothing else).
func (t *Tree) commit(rev string) (*object.Commit, error) {
	want := strings.ToLower(rev)
	if len(want) < 7 || len(want) > 40 || strings.Trim(want, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("revision %q: want a commit hash, at least its first 7 hex digits", rev)
	}
	if len(want) == 40 {
		c, err := t.repo.CommitObject(plumbing.NewHash(want))
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, t.unknown(rev)
		}
		return c, err
	}
	commits, err := t.repo.CommitObjects()
	if err != nil {
		return nil, err
	}
	var found []*object.Commit
	err = commits.ForEach(func(c *object.Commit) error {
		if strings.HasPrefix(c.Hash.String(), want) {
			found = append(found, c)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(found) == 0:
		return nil, t.unknown(rev)
	case len(found) > 1:
		return nil, fmt.Errorf("revision %s names %d commits of %s: give more of the hash", rev, len(found), t.branch)
	}
	return found[0], nil
}

func (t *Tree) unknown(rev string) error {
	return fmt.Errorf("no commit %s in the history of %s: name a commit of that branch (git log %s)", rev, t.branch, t.branch)
}

// write makes p hold b, replacing whatever is there.
func (t *Tree) write(p string, b blob) error {
	if info, err := t.fs.Lstat(p); err == nil {
		// A link would be written through to its target, a folder cannot be
		// opened: either is replaced by the file.
		if info.Mode()&fs.ModeSymlink != 0 || info.IsDir() {
			if err := removeAll(t.fs, p); err != nil {
				return err
			}
		}
	}
	if err := t.fs.MkdirAll(path.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if b.mode == filemode.Symlink {
		if err := t.fs.Symlink(string(b.content), p); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		return nil
	}
	perm := os.FileMode(0o644)
	if b.mode == filemode.Executable {
		perm = 0o755
	}
	f, err := t.fs.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	_, err = f.Write(b.content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// repoPath checks that name is a path inside the repository's tree, not its
// root, and outside .git: a write must never reach the repository's own
// machinery (hooks, config) or anything beyond the checkout.
func repoPath(name string) (string, error) {
	switch {
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("path %q is absolute: give it from the repository's root, without the leading /", name)
	case name == "" || name == ".":
		return "", fmt.Errorf("path %q is the repository's root: name a file or folder inside it", name)
	case !fs.ValidPath(name) || strings.Contains(name, `\`):
		return "", fmt.Errorf("path %q is not a clean path inside the repository: no .., no ./, no //, no trailing /, no \\", name)
	}
	for _, seg := range strings.Split(name, "/") {
		// Case-insensitively, as git itself refuses .GIT: on a
		// case-insensitive disk it is the same folder.
		if strings.EqualFold(seg, ".git") {
			return "", fmt.Errorf("path %q is in .git, which a write never touches", name)
		}
	}
	return name, nil
}

// refuseGitDirs refuses a worktree in which an edit, through FS, left a
// .git folder or file anywhere.
func refuseGitDirs(wt billy.Filesystem) error {
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := wt.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if strings.EqualFold(e.Name(), ".git") {
				return fmt.Errorf("the edit wrote %s: nothing in .git is ever committed or pushed; write inside the repository's tree", strings.TrimPrefix(p, "/"))
			}
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("/")
}

func removeAll(wt billy.Filesystem, p string) error {
	info, err := wt.Lstat(p)
	if err != nil {
		return nil // nothing there
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
