package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Trailers of a promotion commit.
const (
	TrailerPromotedFrom     = "Lockstep-Promoted-From"
	TrailerPromotedRevision = "Lockstep-Promoted-Revision"
	TrailerPromotedLedger   = "Lockstep-Promoted-Ledger"
)

// Promotion asks for what one Application runs to be copied into the next.
type Promotion struct {
	// Source and Target are "namespace/name".
	Source, Target string
	// Revision is the commit the source runs (its last applied revision);
	// SourceFiles its folder at that commit.
	Revision    string
	SourceFiles fs.FS
	// TargetPath is the target's folder in its repository, and Branch the
	// branch it follows.
	TargetPath, Branch string
	// Copy says what is copied.
	Copy v1.PromotionCopy
	// Ledger names the source's ledger record of the sync of Revision
	// ("#41 <hash>"); "" when it is not known here.
	Ledger string
	// Review sends the commit to a new branch whatever the Project's push
	// setting (gates.approvals, or a revision the target would not verify);
	// ReviewBecause says why, for the result.
	Review        bool
	ReviewBecause string
	// By is who asked, Reason why (optional for a promotion).
	By, Reason string
	Now        time.Time
	// DryRun computes the commit and pushes nothing.
	DryRun bool
}

// PromotionResult is what a promotion wrote.
type PromotionResult struct {
	Revision string   `json:"revision"`
	Commit   string   `json:"commit,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Direct   bool     `json:"direct"`
	Changed  bool     `json:"changed"`
	Copied   []Copied `json:"copied,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// ReviewBecause says why the commit went to review although the
	// Project pushes directly.
	ReviewBecause string `json:"reviewBecause,omitempty"`
}

// WritePromotion writes the copy as one commit on the target's branch, or on
// a new branch for review, with trailers that link the source's revision
// and ledger record. When the target already holds every value, nothing is
// written (Changed is false).
func WritePromotion(ctx context.Context, a Access, pr Promotion, opts gitwrite.Options) (PromotionResult, error) {
	if err := pr.check(); err != nil {
		return PromotionResult{}, err
	}
	dir := path.Clean(strings.Trim(pr.TargetPath, "/"))
	res := PromotionResult{Revision: pr.Revision, Direct: a.Push == v1.GitPushDirect && !pr.Review, DryRun: pr.DryRun}
	if a.Push == v1.GitPushDirect && pr.Review {
		res.ReviewBecause = pr.ReviewBecause
	}
	first := "" // the head the first attempt saw
	name, email := a.author()
	req := gitwrite.Request{URL: a.URL, Auth: a.Auth, Branch: pr.Branch, Name: name, Email: email, Signer: a.Signer, DryRun: pr.DryRun,
		Edit: func(t *gitwrite.Tree) error {
			if first == "" {
				first = t.Head()
			} else if changed, _, err := t.Log(first, dir); err != nil || len(changed) > 0 {
				// A retry must not quietly overwrite what was pushed meanwhile.
				return fmt.Errorf("%s changed %s while the promotion was written: look at it, then promote again", pr.Branch, dir)
			}
			read := func(file string) ([]byte, error) { return t.ReadFile(path.Join(dir, file)) }
			changed, copied, err := CopyValues(pr.SourceFiles, read, pr.Copy)
			if err != nil {
				return err
			}
			res.Copied = copied
			for file, data := range changed {
				if err := t.WriteFile(path.Join(dir, file), data); err != nil {
					return err
				}
			}
			return nil
		},
		Describe: func(*gitwrite.Tree) (string, error) { return pr.message(res.Copied) },
	}
	if !res.Direct {
		req.PushBranch = fmt.Sprintf("lockstep/promote/%s-%s-%s", branchSafe(pr.Target), pr.Revision[:7], pr.Now.UTC().Format("20060102-150405"))
	}
	w, err := gitwrite.Write(ctx, req, opts)
	if err != nil {
		return res, err
	}
	res.Commit, res.Branch, res.Changed = w.Commit, w.Branch, w.Changed
	if !w.Changed {
		res.Copied = nil
	}
	return res, nil
}

func (pr Promotion) check() error {
	switch {
	case pr.Source == "" || pr.Target == "" || pr.Branch == "":
		return errors.New("a promotion needs the source, the target and the branch the target follows")
	case len(pr.Revision) != 40 || !isHex(pr.Revision):
		return fmt.Errorf("promoted revision %q: want a full commit hash", pr.Revision)
	case pr.SourceFiles == nil:
		return errors.New("a promotion needs the source's files")
	case pr.By == "":
		return errors.New("a promotion needs who asked for it")
	}
	if err := CheckReason(pr.Reason, false); err != nil {
		return err
	}
	if _, err := cleanFile(strings.Trim(pr.TargetPath, "/")); err != nil {
		return fmt.Errorf("the target's folder %q: a promotion writes inside an Application's folder, not the repository's root", pr.TargetPath)
	}
	return nil
}

func (pr Promotion) message(copied []Copied) (string, error) {
	var body strings.Builder
	if r := strings.TrimSpace(pr.Reason); r != "" {
		body.WriteString(r + "\n\n")
	}
	fmt.Fprintf(&body, "Copies what %s runs at %s:\n", pr.Source, short(pr.Revision))
	for _, c := range copied {
		to := c.To
		if to == "" {
			to = "(removed)"
		}
		fmt.Fprintf(&body, "  %s %s: %s\n", c.File, c.Path, oneLine(to))
	}
	trailers := []source.Trailer{{Key: TrailerPromotedFrom, Value: pr.Source}, {Key: TrailerPromotedRevision, Value: pr.Revision}}
	if pr.Ledger != "" {
		trailers = append(trailers, source.Trailer{Key: TrailerPromotedLedger, Value: oneLine(pr.Ledger)})
	}
	trailers = append(trailers, source.Trailer{Key: TrailerApplication, Value: pr.Target}, source.Trailer{Key: TrailerRequestedBy, Value: oneLine(pr.By)})
	return gitwrite.Message(fmt.Sprintf("Promote %s to %s", short(pr.Revision), pr.Target), body.String(), trailers...)
}

func branchSafe(app string) string {
	return unsafeBranch.ReplaceAllString(strings.ToLower(strings.ReplaceAll(app, "/", "-")), "-")
}
