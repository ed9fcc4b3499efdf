package policy

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
)

// Approval is what the two-person rule reads from the commit being synced.
type Approval struct {
	// Author of the commit, "Name <email>".
	Author string
	// Approvers are the values of the approval trailers, "Name <email>".
	Approvers []string
	// TrustedSignature is true when the commit carrying the trailers is signed
	// by one of the approval keys; trailers on any other commit are ignored,
	// since whoever wrote the commit could have written them.
	TrustedSignature bool
	// Signer names the key that signed it, for messages.
	Signer string
	// Requesters are who asked Lockstep to write the commit (its
	// RequesterTrailer values): Lockstep is the commit's author, so they
	// count as its authors, and their own approvals do not count either.
	Requesters []string
}

// RequesterTrailer names, on a commit Lockstep writes (a rollback, a
// promotion), the user who asked for it.
const RequesterTrailer = "Lockstep-Requested-By"

// CheckApprovals applies spec.approvals: the commit needs Required distinct
// approvers, none of them its author, on a commit signed by a trusted key.
// It returns the approvers counted.
func (r *Rules) CheckApprovals(a Approval) ([]string, error) {
	p := r.spec.Approvals
	if p == nil {
		return nil, nil
	}
	trailer := r.approvalTrailer()
	deny := func(format string, args ...any) ([]string, error) {
		return nil, r.verdict([]Violation{{Rule: "spec.approvals", Message: fmt.Sprintf(format, args...)}})
	}
	if !a.TrustedSignature {
		return deny("needs %d approvals, and its %s trailers count only on a commit signed by an approval key; this commit is not", p.Required, trailer)
	}
	author := personKey(a.Author)
	seen := map[string]string{}
	var self, nameless []string
	for _, v := range a.Approvers {
		k := personKey(v)
		switch {
		case k == "":
			if strings.TrimSpace(v) != "" {
				nameless = append(nameless, v)
			}
		case k == author || isRequester(v, a.Requesters):
			self = append(self, v)
		case seen[k] == "":
			seen[k] = strings.TrimSpace(v)
		}
	}
	counted := make([]string, 0, len(seen))
	for _, v := range seen {
		counted = append(counted, v)
	}
	sort.Strings(counted)
	if len(counted) < int(p.Required) {
		msg := fmt.Sprintf("needs %d distinct approvers other than the author, has %d", p.Required, len(counted))
		if len(counted) > 0 {
			msg += " (" + strings.Join(counted, ", ") + ")"
		}
		if len(self) > 0 {
			msg += "; the author's own approval does not count"
		}
		if len(nameless) > 0 {
			msg += "; approvals without an email address (Name <email>) do not count"
		}
		return deny("%s", msg)
	}
	return counted, nil
}

// personKey identifies a person by email address, lower-cased; "" when the
// value has none. Names are not compared: "Alice" could be the author
// approving herself, and "Bob" and "Bob <bob@x.io>" would count twice.
func personKey(v string) string {
	v = strings.TrimSpace(v)
	if addr, err := mail.ParseAddress(v); err == nil {
		return strings.ToLower(addr.Address)
	}
	if open, end := strings.LastIndex(v, "<"), strings.LastIndex(v, ">"); open >= 0 && end > open {
		if email := strings.TrimSpace(v[open+1 : end]); strings.Contains(email, "@") {
			return strings.ToLower(email)
		}
	}
	return ""
}

// isRequester says whether the approver "Name <email>" is one of the users
// who asked for the commit. A user is an account name or an email, so it is
// compared with the email, the email's local part and the name, ignoring
// case: wrongly excluding an approval is safe, wrongly counting one is not.
func isRequester(approver string, requesters []string) bool {
	email := personKey(approver)
	local, _, _ := strings.Cut(email, "@")
	name := strings.ToLower(strings.TrimSpace(approver))
	if i := strings.LastIndex(name, "<"); i >= 0 {
		name = strings.TrimSpace(name[:i])
	}
	for _, r := range requesters {
		r = strings.ToLower(strings.TrimSpace(r))
		if r != "" && (r == email || r == local || r == name) {
			return true
		}
	}
	return false
}
