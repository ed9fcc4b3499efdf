package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password rules. bcrypt reads at most 72 bytes: a longer password would be
// cut silently, so it is refused instead.
const (
	MinPasswordLength = 12
	MaxPasswordBytes  = 72
)

// DefaultPasswordCost is bcrypt's work factor for new hashes: about a quarter
// of a second on one core, which bounds guessing against a stolen Secret.
const DefaultPasswordCost = 12

// ErrBadCredentials is the one answer to a wrong name or password: which of
// the two was wrong is not said.
var ErrBadCredentials = errors.New("wrong account name or password")

// CheckNewPassword says why password may not be set, or nil.
func CheckNewPassword(password string) error {
	switch {
	case !utf8.ValidString(password):
		return errors.New("the password is not valid UTF-8")
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("the password is shorter than %d characters", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("the password is longer than %d bytes (bcrypt would ignore the rest)", MaxPasswordBytes)
	}
	return nil
}

// HashPassword hashes a password with bcrypt at cost (0: DefaultPasswordCost).
func HashPassword(password string, cost int) (string, error) {
	if err := CheckNewPassword(password); err != nil {
		return "", err
	}
	if cost == 0 {
		cost = DefaultPasswordCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// passwordMatches reports whether password is the one hash was made from.
// It takes about as long for every wrong password as for the right one.
func passwordMatches(hash, password string) bool {
	if len(password) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// generation names one password of an account: a session carries the
// generation it was opened with, so changing the password ends it. It is a
// short hash of the bcrypt hash, which says nothing about the password.
func generation(hash string) string {
	sum := sha256.Sum256([]byte("lockstep session generation\x00" + hash))
	return hex.EncodeToString(sum[:8])
}
