package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// remote is a repository and the means to reach it: what every clone,
// listing and push of one write shares.
type remote struct {
	url      string
	auth     transport.AuthMethod
	caBundle []byte
	release  func()
}

func dial(url string, a source.Auth) (*remote, error) {
	auth, caBundle, release, err := source.Transport(url, a)
	if err != nil {
		return nil, err
	}
	return &remote{url: url, auth: auth, caBundle: caBundle, release: release}, nil
}

// checkout is a fresh clone of one branch: its history in a temporary
// folder (a big repository must not fill the controller's memory), its
// worktree in memory. Nothing of one attempt survives into the next; close
// removes the folder.
type checkout struct {
	repo *git.Repository
	fs   billy.Filesystem
	// base is the branch's head; zero for an empty repository.
	base  plumbing.Hash
	close func()
}

// checkout clones branch with its whole history (FilesAt and Log read it).
func (r *remote) checkout(ctx context.Context, branch string) (checkout, error) {
	dir, err := os.MkdirTemp("", "lockstep-gitwrite-")
	if err != nil {
		return checkout{}, fmt.Errorf("a folder for the clone: %w", err)
	}
	storage := func(name string) *filesystem.Storage {
		return filesystem.NewStorage(osfs.New(filepath.Join(dir, name)), cache.NewObjectLRUDefault())
	}
	co, err := r.clone(ctx, branch, storage)
	co.close = func() { _ = os.RemoveAll(dir) }
	if err != nil {
		co.close()
	}
	return co, err
}

func (r *remote) clone(ctx context.Context, branch string, storage func(name string) *filesystem.Storage) (checkout, error) {
	fs := memfs.New()
	repo, err := git.CloneContext(ctx, storage("clone"), fs, &git.CloneOptions{
		URL: r.url, Auth: r.auth, CABundle: r.caBundle, ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true,
	})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		repo, err := emptyRepository(storage("init"), fs, r.url, branch)
		return checkout{repo: repo, fs: fs}, unlinkGitDir(fs, err)
	case errors.As(err, new(git.NoMatchingRefSpecError)) || err != nil && strings.Contains(err.Error(), "couldn't find remote ref"):
		return checkout{}, fmt.Errorf("the repository has no branch %s: create it first, or name another branch", branch)
	case err != nil:
		return checkout{}, fmt.Errorf("cloning: %w: check the URL, the credentials and the CA bundle", trimmed{err})
	}
	head, err := repo.Head()
	if err != nil {
		return checkout{}, fmt.Errorf("reading the head of %s: %w", branch, err)
	}
	return checkout{repo: repo, fs: fs, base: head.Hash()}, unlinkGitDir(fs, nil)
}

// unlinkGitDir removes the .git file go-git leaves in a worktree whose
// history is stored elsewhere: the worktree then holds only the branch's
// files, and anything an edit puts at .git is the edit's (and refused).
func unlinkGitDir(fs billy.Filesystem, err error) error {
	if err != nil {
		return err
	}
	if info, statErr := fs.Lstat(".git"); statErr == nil && !info.IsDir() {
		return fs.Remove(".git")
	}
	return nil
}

// emptyRepository starts the history of a repository that has none.
func emptyRepository(storage *filesystem.Storage, fs billy.Filesystem, url, branch string) (*git.Repository, error) {
	repo, err := git.Init(storage, fs)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		return nil, err
	}
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))
	return repo, repo.Storer.SetReference(head)
}

// head is where branch points on the server now; zero when it does not
// exist (or the repository is empty).
func (r *remote) head(ctx context.Context, branch string) (plumbing.Hash, error) {
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.auth, CABundle: r.caBundle})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("listing branches: %w: check the URL, the credentials and the CA bundle", trimmed{err})
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, ref := range refs {
		if ref.Name() == want {
			return ref.Hash(), nil
		}
	}
	return plumbing.ZeroHash, nil
}

// refuseExisting refuses a push branch that already exists: pushing onto it
// would mix this change with another, or fast-forward someone's branch.
func (r *remote) refuseExisting(ctx context.Context, branch string) error {
	h, err := r.head(ctx, branch)
	if err != nil {
		return err
	}
	if !h.IsZero() {
		return branchExists(branch)
	}
	return nil
}

func branchExists(branch string) error {
	return fmt.Errorf("push branch %s: %w: choose another name (a suffix such as -2 or the date), or delete the old branch if it is done with", branch, ErrBranchExists)
}

// push sends the local branch to target. base is what target was when it
// was checked out (zero for a branch to create); a refusal because target
// is no longer there is errRaced when retry is true, a refusal to create a
// branch someone else created meanwhile is ErrBranchExists.
func (r *remote) push(ctx context.Context, repo *git.Repository, branch, target string, retry bool, base plumbing.Hash) error {
	spec := config.RefSpec(plumbing.NewBranchReferenceName(branch) + ":" + plumbing.NewBranchReferenceName(target))
	err := repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: r.auth, CABundle: r.caBundle})
	if err == nil {
		return nil
	}
	// go-git refuses a non-fast-forward itself, without wrapping
	// ErrNonFastForwardUpdate; a server that saw the race after the ref
	// advertisement words its refusal its own way. Asking where the branch
	// is now tells a lost race from any other refusal, however it is worded.
	moved := errors.Is(err, git.ErrNonFastForwardUpdate) || strings.Contains(err.Error(), "non-fast-forward")
	if !moved {
		if now, herr := r.head(ctx, target); herr == nil && now != base {
			moved = true
		}
	}
	switch {
	case moved && !retry:
		return branchExists(target)
	case moved:
		return fmt.Errorf("%w: %w", errRaced, err)
	}
	return fmt.Errorf("pushing to %s: %w: check that these credentials may push to it", target, trimmed{err})
}

// trimmed is a transport error without the line break a server ends its
// message with, so that the advice after it stays on its line.
type trimmed struct{ error }

func (t trimmed) Error() string { return strings.TrimSpace(t.error.Error()) }

func (t trimmed) Unwrap() error { return t.error }
