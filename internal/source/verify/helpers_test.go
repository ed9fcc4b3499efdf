package verify_test

import (
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// armorPrivate writes k's private key, armored: what an administrator pastes
// by mistake instead of the public key.
func armorPrivate(w io.Writer, k *gitserver.PGPKey) error {
	a, err := armor.Encode(w, openpgp.PrivateKeyType, nil)
	if err != nil {
		return err
	}
	if err := k.Entity.SerializePrivate(a, nil); err != nil {
		return err
	}
	return a.Close()
}
