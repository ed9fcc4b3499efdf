package engine

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// reader reads files from the snapshot within the limits, refusing symlinks: a
// link could point outside the repository, and following one is never needed for
// configuration.
type reader struct {
	fsys   fs.FS
	limits Limits
	total  int64 // bytes read so far
	// origins maps each rendered object to where it came from.
	origins map[*unstructured.Unstructured]Origin
	// identities decrypt SOPS files when decrypt is set (plain YAML and
	// Kustomize); decrypted holds, per file they decrypted, the values that
	// were ciphertext in Git.
	identities []age.Identity
	decrypt    bool
	decrypted  map[string][]string
	// folders are those the render read files from: what a push must touch
	// for the result to change (Result.Inputs).
	folders map[string]bool
}

// place records the file objs were rendered from.
func (r *reader) place(objs []*unstructured.Unstructured, file string) {
	if r.origins == nil {
		r.origins = map[*unstructured.Unstructured]Origin{}
	}
	for _, o := range objs {
		r.origins[o] = Origin{File: file}
	}
}

// readRaw reads a file as it is in Git, within the per-file limit, without
// counting it or decrypting it: for checks that look at a file before a
// renderer reads it.
func (r *reader) readRaw(name string) ([]byte, error) {
	fi, err := fs.Lstat(r.fsys, name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > r.limits.MaxFileSize {
		return nil, fmt.Errorf("%s: not a regular file within the size limit", name)
	}
	return fs.ReadFile(r.fsys, name)
}

func (r *reader) readFile(name string) ([]byte, error) {
	if r.folders == nil {
		r.folders = map[string]bool{}
	}
	r.folders[path.Dir(name)] = true
	fi, err := fs.Lstat(r.fsys, name)
	if err != nil {
		return nil, &Error{File: name, Err: err}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &Error{File: name, Err: fmt.Errorf("is a symbolic link; links are refused because they can point outside the repository")}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{File: name, Err: fmt.Errorf("is not a regular file")}
	}
	if fi.Size() > r.limits.MaxFileSize {
		return nil, &Error{File: name, Err: fmt.Errorf("file of %d bytes is %w of %d bytes", fi.Size(), ErrLimit, r.limits.MaxFileSize)}
	}
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, &Error{File: name, Err: err}
	}
	defer f.Close()
	// Read one byte past the limit so a file whose Stat lied is still caught.
	data, err := io.ReadAll(io.LimitReader(f, r.limits.MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: name, Err: err}
	}
	if int64(len(data)) > r.limits.MaxFileSize {
		return nil, &Error{File: name, Err: fmt.Errorf("file is %w of %d bytes", ErrLimit, r.limits.MaxFileSize)}
	}
	r.total += int64(len(data))
	if r.total > r.limits.MaxTotalSize {
		return nil, &Error{File: name, Err: fmt.Errorf("reading it brings the total to %d bytes, %w of %d", r.total, ErrLimit, r.limits.MaxTotalSize)}
	}
	if !r.decrypt {
		if isSOPSFile(name, data) {
			return nil, &Error{File: name, Err: ErrDecryptionNotHere}
		}
		return data, nil
	}
	// SOPS files are decrypted here, in memory, and nothing decrypted is ever
	// written anywhere.
	plain, secrets, encrypted, err := decryptSOPS(name, data, r.identities)
	if err != nil {
		return nil, err
	}
	if encrypted {
		if r.decrypted == nil {
			r.decrypted = map[string][]string{}
		}
		r.decrypted[name] = secrets
	}
	return plain, nil
}

// inputs are the folders read, sorted.
func (r *reader) inputs() []string {
	out := make([]string, 0, len(r.folders))
	for f := range r.folders {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
