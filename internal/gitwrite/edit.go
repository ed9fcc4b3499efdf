package gitwrite

import (
	"errors"
	"fmt"
	"path"
	"slices"
)

// Edit changes a checkout. It returns an error to write nothing. It may run
// more than once, each time on a fresh checkout of a newer head, so it must
// read what it changes from t rather than remember it.
type Edit func(t *Tree) error

// ReplaceFolder is the edit that makes dir hold exactly files (by path
// relative to dir): everything else in it is removed.
func ReplaceFolder(dir string, files map[string][]byte) Edit {
	return func(t *Tree) error {
		d, err := repoPath(dir)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(files))
		for name := range files {
			if _, err := repoPath(name); err != nil {
				return fmt.Errorf("file %q of %s: want a relative path inside the folder: %w", name, d, err)
			}
			names = append(names, name)
		}
		slices.Sort(names)
		if err := t.Remove(d); err != nil {
			return err
		}
		for _, name := range names {
			if err := t.WriteFile(path.Join(d, name), files[name]); err != nil {
				return err
			}
		}
		return nil
	}
}

// RestoreFolders is the edit that makes each of dirs hold exactly what it
// held in the commit rev (see Tree.FilesAt): files added since are removed,
// files removed since come back, and a folder rev did not have is removed.
// Modes and symbolic links are restored as they were. The rest of the tree
// is left as it is.
func RestoreFolders(rev string, dirs ...string) Edit {
	return func(t *Tree) error {
		if len(dirs) == 0 {
			return errors.New("restoring: name the folders to restore")
		}
		for _, dir := range dirs {
			if err := restoreFolder(t, rev, dir); err != nil {
				return err
			}
		}
		return nil
	}
}

func restoreFolder(t *Tree, rev, dir string) error {
	d, err := repoPath(dir)
	if err != nil {
		return err
	}
	// Read before removing: an unknown rev must leave the tree untouched.
	blobs, err := t.blobsAt(rev, d)
	if err != nil {
		return err
	}
	if err := t.Remove(d); err != nil {
		return err
	}
	names := make([]string, 0, len(blobs))
	for name := range blobs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := t.write(path.Join(d, name), blobs[name]); err != nil {
			return err
		}
	}
	return nil
}
