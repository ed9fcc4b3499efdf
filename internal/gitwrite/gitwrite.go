// Package gitwrite is the one way Lockstep writes to Git: it checks out a
// branch in memory, runs an edit on it (replace a folder, restore folders
// as they were at an earlier commit, or any Edit), commits what changed,
// optionally signed, and pushes. A push that loses a race is made again on
// the new head, the edit recomputed there; nothing is ever force-pushed.
//
// Write is the engine; Commit is the folder replacement lockstep bootstrap
// makes.
package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

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

// Commit writes c.Files into c.Dir on c.Branch, commits and pushes, with
// Write's default options: a lost race is retried on the new head.
func Commit(ctx context.Context, c Change) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	dir, _ := cleanDir(c.Dir)
	replace := ReplaceFolder(dir, c.Files)
	edit := replace
	if c.Only != nil {
		// Checked on every attempt: a racing push may have added a file.
		edit = func(t *Tree) error {
			if err := onlyOwned(t, dir, c.Only); err != nil {
				return err
			}
			return replace(t)
		}
	}
	return Write(ctx, Request{URL: c.URL, Auth: c.Auth, Branch: c.Branch, Edit: edit, Name: c.Name, Email: c.Email, Message: c.Message}, Options{})
}

func (c Change) check() error {
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
	if dir == "" || d == "." || !fs.ValidPath(d) {
		return "", fmt.Errorf("folder %q: want a folder inside the repository, not its root", dir)
	}
	if _, err := repoPath(d); err != nil {
		return "", fmt.Errorf("folder %q: want a folder inside the repository, not its root: %w", dir, err)
	}
	return d, nil
}

// onlyOwned refuses a folder holding files other than owned.
func onlyOwned(t *Tree, dir string, owned []string) error {
	wt := t.FS()
	if info, err := wt.Lstat(dir); err == nil && !info.IsDir() {
		return fmt.Errorf("%s is a file, not a folder: name the folder to write", dir)
	}
	var others []string
	var walk func(p string) error
	walk = func(p string) error {
		entries, err := wt.ReadDir(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing there yet
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			child := path.Join(p, e.Name())
			if e.IsDir() && e.Mode()&fs.ModeSymlink == 0 {
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			if rel := strings.TrimPrefix(child, dir+"/"); !slices.Contains(owned, rel) {
				others = append(others, rel)
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return err
	}
	if len(others) > 0 {
		slices.Sort(others)
		return fmt.Errorf("%s already holds files this did not write (%s): name an empty folder, or replace them knowingly", dir, strings.Join(others, ", "))
	}
	return nil
}
