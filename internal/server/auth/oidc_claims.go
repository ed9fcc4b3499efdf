package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// identity reads the claims a verified token carries.
func (o *OIDC) identity(token *oidc.IDToken) (Identity, error) {
	if token.Subject == "" {
		return Identity{}, errors.New("no sub claim")
	}
	var claims map[string]json.RawMessage
	if err := token.Claims(&claims); err != nil {
		return Identity{}, err
	}
	id := Identity{Subject: token.Subject, Expiry: token.Expiry, Issuer: token.Issuer}
	_ = json.Unmarshal(claims["email"], &id.Email) // a non-string email is no email
	var err error
	if id.Username, err = o.username(token.Subject, claims); err != nil {
		return Identity{}, err
	}
	if _, byReference := distributedClaimNames(claims)[o.cfg.GroupsClaim]; byReference {
		// Azure AD does this past 200 groups; fetching them is not supported,
		// and going on without them could escape a deny rule.
		return Identity{}, fmt.Errorf("the %q claim is sent by reference (_claim_names), which is not supported: "+
			"have the provider put the groups in the ID token, or filter them", o.cfg.GroupsClaim)
	}
	if id.Groups, err = parseGroups(o.cfg.GroupsClaim, claims[o.cfg.GroupsClaim]); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func (o *OIDC) username(subject string, claims map[string]json.RawMessage) (string, error) {
	name := o.cfg.UsernameClaim
	var value string
	if name == "sub" {
		value = subject
	} else if raw, ok := claims[name]; !ok || json.Unmarshal(raw, &value) != nil || value == "" {
		return "", fmt.Errorf("no %q claim to name the user by (set the username claim to one the provider sends, such as %q or %q)",
			name, "preferred_username", "sub")
	}
	if name == "email" && emailUnverified(claims["email_verified"]) {
		return "", fmt.Errorf("the provider says email %q is not verified", value)
	}
	if err := checkClaimText(value, MaxOIDCUsernameBytes); err != nil {
		return "", fmt.Errorf("claim %q: %w", name, err)
	}
	return value, nil
}

// emailUnverified reports an email_verified claim that says false, as a
// boolean or, as some providers send it, a string. An absent claim is not a
// refusal: several enterprise providers never send it.
func emailUnverified(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return !b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.EqualFold(s, "false")
	}
	return false
}

func distributedClaimNames(claims map[string]json.RawMessage) map[string]json.RawMessage {
	var names map[string]json.RawMessage
	_ = json.Unmarshal(claims["_claim_names"], &names)
	return names
}

// parseGroups reads a groups claim: a JSON array of strings or one string.
// Non-string elements and empty strings are ignored, duplicates dropped; more
// than MaxOIDCGroups groups, or a name that is too long or holds control
// characters, refuses the token.
func parseGroups(claim string, raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		raw = json.RawMessage(`[` + string(raw) + `]`)
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil, nil // null, a number, an object: no groups
	}
	if len(elems) > MaxOIDCGroups {
		return nil, fmt.Errorf("claim %q holds %d groups, more than the %d allowed", claim, len(elems), MaxOIDCGroups)
	}
	var groups []string
	for _, e := range elems {
		var g string
		if json.Unmarshal(e, &g) != nil || g == "" {
			continue
		}
		if err := checkClaimText(g, MaxOIDCGroupBytes); err != nil {
			return nil, fmt.Errorf("claim %q: group %.40q...: %w", claim, g, err)
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return groups, nil
}

// checkClaimText refuses a name that is too long or could forge lines in a
// log or the ledger.
func checkClaimText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, more than the %d allowed", len(s), max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return errors.New("holds a control character or invalid UTF-8")
		}
	}
	return nil
}
