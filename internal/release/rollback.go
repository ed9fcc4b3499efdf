package release

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Rollback asks for one Application's folders back as they were at a revision.
type Rollback struct {
	// Application is "namespace/name".
	Application string
	// Branch is the branch the Application follows: the rollback is a commit
	// on top of it (or on a new branch from it, for review).
	Branch string
	// To is the full hash of the revision to return to (see Target).
	To string
	// Applied is the commit applied now, named in a trailer; "" if unknown.
	Applied string
	// Folders are the folders to restore: the Application's path (Own) and
	// every folder its renders read, at To and now (a Kustomize base).
	Folders []string
	Own     string
	// Include are the folders outside Own that may be restored when they
	// changed since To: other Applications may read them, and restoring
	// them rolls those back too. One that changed and is not included is
	// an error naming it (SharedError).
	Include []string
	// DryRun computes the commit and pushes nothing.
	DryRun bool
	// By is who asked, Reason why; both are written into the commit.
	By, Reason string
	// Now is when.
	Now time.Time
}

// RollbackResult is what a rollback wrote.
type RollbackResult struct {
	// To is the revision returned to.
	To string `json:"to"`
	// Commit is the rollback commit; Branch where it was pushed: the
	// followed branch (Direct) or a new branch to merge through review.
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	Direct bool   `json:"direct"`
	// Changed is false when the folders already were as they were at To:
	// nothing was written.
	Changed bool `json:"changed"`
	// Folders restored, and the commits since To that changed them (newest
	// first; More were left out of the list).
	Folders  []string            `json:"folders"`
	Reverted []gitwrite.LogEntry `json:"reverted,omitempty"`
	More     int                 `json:"more,omitempty"`
	// Hold is what to put on the Application (see v1.AnnotationHold).
	Hold v1.Hold `json:"hold"`
	// DryRun: nothing was pushed; Commit exists nowhere.
	DryRun bool `json:"dryRun,omitempty"`
}

// SharedError is a rollback that would restore folders outside the
// Application's own that changed since its target: other Applications may
// read them.
type SharedError struct {
	Folders []string
}

func (e *SharedError) Error() string {
	list := strings.Join(e.Folders, ", ")
	return fmt.Sprintf("the render also reads %s, changed since the target, which other Applications may read too: restoring it rolls them back as well. Restore it knowingly with --include %s, or revert those commits by hand",
		list, strings.Join(e.Folders, ","))
}

// checkShared refuses folders outside Own that changed since To and are
// not included.
func (rb Rollback) checkShared(t *gitwrite.Tree, folders []string) error {
	own := path.Clean(strings.Trim(rb.Own, "/"))
	var shared []string
	for _, f := range folders {
		if f == own || strings.HasPrefix(f, own+"/") || included(f, rb.Include) {
			continue
		}
		changed, _, err := t.Log(rb.To, f)
		if err != nil {
			return fmt.Errorf("%s is not a commit of %s's history, so it cannot be returned to by a commit there: %w", short(rb.To), rb.Branch, err)
		}
		if len(changed) > 0 {
			shared = append(shared, f)
		}
	}
	if len(shared) > 0 {
		return &SharedError{Folders: shared}
	}
	return nil
}

func included(folder string, include []string) bool {
	for _, in := range include {
		in = path.Clean(strings.Trim(in, "/"))
		if folder == in || strings.HasPrefix(folder, in+"/") {
			return true
		}
	}
	return false
}

// maxReason bounds the reason written into the commit and the hold.
const maxReason = v1.MaxHoldReason

// WriteRollback writes the rollback as one commit that makes every folder
// hold what it held at To, on the followed branch or a new one. A push that
// races another is made again on the new head; nothing is force-pushed.
func WriteRollback(ctx context.Context, a Access, rb Rollback, opts gitwrite.Options) (RollbackResult, error) {
	if err := rb.check(); err != nil {
		return RollbackResult{}, err
	}
	folders := cleanFolders(rb.Folders)
	res := RollbackResult{To: rb.To, Folders: folders, Direct: a.Push == v1.GitPushDirect, DryRun: rb.DryRun}
	name, email := a.author()
	first := "" // the head the first attempt saw
	req := gitwrite.Request{URL: a.URL, Auth: a.Auth, Branch: rb.Branch, Name: name, Email: email, Signer: a.Signer, DryRun: rb.DryRun,
		Edit: func(t *gitwrite.Tree) error {
			if err := rb.checkShared(t, folders); err != nil {
				return err
			}
			if first == "" {
				first = t.Head()
			} else if changed, _, err := t.Log(first, folders...); err != nil || len(changed) > 0 {
				// A retry must not quietly undo what was pushed meanwhile.
				return fmt.Errorf("%s changed %s while the rollback was written (%d commits): look at them, then roll back again", rb.Branch, strings.Join(folders, ", "), len(changed))
			}
			var err error
			if res.Reverted, res.More, err = t.Log(rb.To, folders...); err != nil {
				return fmt.Errorf("%s is not a commit of %s's history, so it cannot be returned to by a commit there: %w", short(rb.To), rb.Branch, err)
			}
			return gitwrite.RestoreFolders(rb.To, folders...)(t)
		},
		Describe: func(*gitwrite.Tree) (string, error) { return rb.message(folders, res.Reverted, res.More) },
	}
	if !res.Direct {
		req.PushBranch = rollbackBranch(rb)
	}
	w, err := gitwrite.Write(ctx, req, opts)
	if err != nil {
		if errors.Is(err, gitwrite.ErrBranchExists) {
			err = fmt.Errorf("%w (a rollback of %s to %s was pushed for review a moment ago: merge or delete it)", err, rb.Application, short(rb.To))
		}
		return res, err
	}
	res.Commit, res.Branch, res.Changed = w.Commit, w.Branch, w.Changed
	res.Hold = v1.Hold{Reason: rb.Reason, By: rb.By, At: metav1.NewTime(rb.Now), RollbackTo: rb.To, RollbackCommit: w.Commit}
	if !res.Direct && w.Changed {
		res.Hold.Branch = w.Branch
	}
	return res, nil
}

func (rb Rollback) check() error {
	if err := CheckReason(rb.Reason, true); err != nil {
		return err
	}
	switch {
	case rb.Application == "" || rb.Branch == "":
		return errors.New("a rollback needs the Application and the branch it follows")
	case len(rb.To) != 40 || !isHex(rb.To):
		return fmt.Errorf("rollback target %q: want a full commit hash (see release.Target)", rb.To)
	case rb.By == "":
		return errors.New("a rollback needs who asked for it")
	case len(rb.Folders) == 0:
		return errors.New("a rollback needs the folders to restore")
	}
	return nil
}

// cleanFolders sorts folders and drops those inside another: restoring a
// folder restores what is in it.
func cleanFolders(folders []string) []string {
	var clean []string
	for _, f := range folders {
		if f = path.Clean(strings.Trim(f, "/")); f != "." && f != "" {
			clean = append(clean, f)
		}
	}
	sort.Strings(clean)
	var out []string
	for _, f := range clean {
		if n := len(out); n > 0 && (out[n-1] == f || strings.HasPrefix(f, out[n-1]+"/")) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// unsafeBranch are the characters not kept in a branch name made from an
// Application's name.
var unsafeBranch = regexp.MustCompile(`[^a-z0-9._-]+`)

// rollbackBranch names the branch a rollback goes to for review: the
// Application, the target and the time, so two rollbacks never collide.
func rollbackBranch(rb Rollback) string {
	return fmt.Sprintf("lockstep/rollback/%s-%s-%s", branchSafe(rb.Application), rb.To[:7], rb.Now.UTC().Format("20060102-150405"))
}

// message is the rollback commit's message: what, why, which commits it
// reverts, and trailers that link it to the Application and the revisions.
func (rb Rollback) message(folders []string, reverted []gitwrite.LogEntry, more int) (string, error) {
	var body strings.Builder
	body.WriteString(strings.TrimSpace(rb.Reason))
	fmt.Fprintf(&body, "\n\nRestores %s as they were at %s", strings.Join(folders, ", "), short(rb.To))
	if len(reverted) == 0 {
		body.WriteString(".")
	} else {
		body.WriteString(", reverting:\n")
		for _, e := range reverted {
			fmt.Fprintf(&body, "  %s %s (%s)\n", short(e.Hash), oneLine(e.Subject), oneLine(e.Author))
		}
		if more > 0 {
			fmt.Fprintf(&body, "  and %d more\n", more)
		}
	}
	trailers := []source.Trailer{{Key: TrailerRollbackTo, Value: rb.To}}
	if rb.Applied != "" {
		trailers = append(trailers, source.Trailer{Key: TrailerRollbackOf, Value: rb.Applied})
	}
	trailers = append(trailers, source.Trailer{Key: TrailerApplication, Value: rb.Application}, source.Trailer{Key: TrailerRequestedBy, Value: oneLine(rb.By)})
	return gitwrite.Message(fmt.Sprintf("Roll back %s to %s", rb.Application, short(rb.To)), body.String(), trailers...)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// CheckReason says what is wrong with the reason for a rollback, a hold
// or (not required) a promotion: it goes into commits, the ledger and
// terminals, so it is plain text of at most 1 KiB.
func CheckReason(reason string, required bool) error {
	switch {
	case required && strings.TrimSpace(reason) == "":
		return errors.New("say why (--reason): the commit, the hold and the ledger keep it")
	case len(reason) > maxReason:
		return fmt.Errorf("the reason is %d bytes; keep it under %d (link a ticket for the rest)", len(reason), maxReason)
	case strings.ContainsFunc(reason, unsafeRune):
		return errors.New("the reason holds a control character: write it as plain text")
	}
	return nil
}

// Printable is s with the characters unsafeRune refuses dropped: for text
// from Git (subjects, authors) shown in a terminal.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// unsafeRune is a control character other than a line break or tab, or one
// that reorders text on screen (bidirectional controls): text that would
// show differently in a terminal or a forge than in the ledger.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}
