package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// decryptionKeyTTL is how long age keys read from a Secret are reused.
const decryptionKeyTTL = 30 * time.Second

// ageKeySuffix marks the entries of a decryption Secret that hold age keys.
const ageKeySuffix = ".agekey"

// ageIdentities reads the age keys of spec.source.decryption ("" when none is
// configured). The keys go to the render stage only; errors name the Secret
// and its entries, never a value.
func (r *Reconciler) ageIdentities(ctx context.Context, app *v1.Application) (string, error) {
	d := app.Spec.Source.Decryption
	if d == nil {
		return "", nil
	}
	return r.decryptKeys.get(app.Namespace+"/"+d.SecretRef.Name, r.now(), decryptionKeyTTL, func() (string, error) {
		s, err := r.secret(ctx, app.Namespace, d.SecretRef.Name)
		if err != nil {
			return "", err
		}
		var names []string
		for k := range s.Data {
			if strings.HasSuffix(k, ageKeySuffix) {
				names = append(names, k)
			}
		}
		if len(names) == 0 {
			return "", fmt.Errorf("the decryption Secret %s/%s has no entry ending in %s (an age identity, AGE-SECRET-KEY-1...)", app.Namespace, s.Name, ageKeySuffix)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, k := range names {
			b.Write(s.Data[k])
			b.WriteByte('\n')
		}
		return b.String(), nil
	})
}
