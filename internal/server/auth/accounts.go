package auth

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// Secrets holding auth state, in the controller's namespace.
const (
	// SecretAccounts holds the local accounts: one key per account name, its
	// value an Account as JSON.
	SecretAccounts = "lockstep-accounts"
	// SecretTokens holds the API tokens: one key per token ID, its value a
	// Token as JSON (the secret part only as a hash).
	SecretTokens = "lockstep-tokens"
	// SecretSessions holds the key that signs sessions ("key") and the
	// sessions ended before their expiry ("revoked").
	SecretSessions = "lockstep-sessions"
	// SecretInitialAdmin holds the first admin password ("password"), written
	// when the accounts Secret is created; delete it after logging in.
	SecretInitialAdmin = "lockstep-initial-admin"
)

// AdminAccount is the account created on first start; it holds role:admin
// whatever the RBAC ConfigMap says (disable it in the accounts Secret).
const AdminAccount = "admin"

// Account is a local account as stored.
type Account struct {
	// PasswordHash is the bcrypt hash; empty: the account cannot log in
	// (it may still own API tokens).
	PasswordHash string `json:"passwordHash,omitempty"`
	// PasswordChanged is when the password was last set.
	PasswordChanged time.Time `json:"passwordChanged,omitzero"`
	// Disabled accounts cannot log in, and their sessions stop working.
	Disabled bool `json:"disabled,omitempty"`
}

// accountName is what an account may be called: a Secret data key that reads
// well as an RBAC subject and in the ledger.
var accountName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// CheckAccountName says why name cannot be an account's, or nil.
func CheckAccountName(name string) error {
	if !accountName.MatchString(name) {
		return fmt.Errorf("account name %q: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// ParseAccounts reads the accounts Secret's data. A malformed entry is
// reported and left out: one bad account does not lock everyone out.
func ParseAccounts(data map[string][]byte) (map[string]Account, []error) {
	out := make(map[string]Account, len(data))
	var errs []error
	for _, name := range sortedKeys(data) {
		if err := CheckAccountName(name); err != nil {
			errs = append(errs, fmt.Errorf("the Secret %s: %w", SecretAccounts, err))
			continue
		}
		var a Account
		if err := json.Unmarshal(data[name], &a); err != nil {
			errs = append(errs, fmt.Errorf("the Secret %s, account %q: %w", SecretAccounts, name, err))
			continue
		}
		out[name] = a
	}
	return out, errs
}

// AccountInfo is an account as the API shows it: no hash.
type AccountInfo struct {
	Name            string    `json:"name"`
	Disabled        bool      `json:"disabled,omitempty"`
	CanLogin        bool      `json:"canLogin"`
	PasswordChanged time.Time `json:"passwordChanged,omitzero"`
}

// Info is what the API may show of a.
func (a Account) Info(name string) AccountInfo {
	return AccountInfo{Name: name, Disabled: a.Disabled, CanLogin: a.PasswordHash != "" && !a.Disabled, PasswordChanged: a.PasswordChanged}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// AccountData is the accounts Secret's entry for a new account with a
// password hash, as a key and value to put in the Secret's data.
func AccountData(name, hash string, now time.Time) (map[string][]byte, error) {
	b, err := json.Marshal(Account{PasswordHash: hash, PasswordChanged: now.UTC()})
	return map[string][]byte{name: b}, err
}
