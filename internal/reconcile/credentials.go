package reconcile

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Keys of the Secrets an Application's source names.
const (
	keyUsername   = "username"
	keyPassword   = "password"
	keyIdentity   = "identity"
	keyKnownHosts = "known_hosts"
	keyCA         = "ca.crt"
)

// credentials reads the source's Secrets from the Application's namespace. The
// values go to the source stage only; errors name the Secret and key, never a value.
func (r *Reconciler) credentials(ctx context.Context, app *v1.Application) (source.Auth, error) {
	var auth source.Auth
	git := app.Spec.Source.Git
	if git.SecretRef != nil {
		s, err := r.secret(ctx, app.Namespace, git.SecretRef.Name)
		if err != nil {
			return auth, err
		}
		auth.Username, auth.Password = string(s.Data[keyUsername]), string(s.Data[keyPassword])
		auth.SSHPrivateKey, auth.KnownHosts = s.Data[keyIdentity], s.Data[keyKnownHosts]
		if auth.Password == "" && len(auth.SSHPrivateKey) == 0 {
			return auth, fmt.Errorf("the Secret %s/%s has neither %q (HTTPS) nor %q (SSH)", app.Namespace, s.Name, keyPassword, keyIdentity)
		}
	}
	if git.CASecretRef != nil {
		s, err := r.secret(ctx, app.Namespace, git.CASecretRef.Name)
		if err != nil {
			return auth, err
		}
		if auth.CABundle = s.Data[keyCA]; len(auth.CABundle) == 0 {
			return auth, fmt.Errorf("the Secret %s/%s has no %q", app.Namespace, s.Name, keyCA)
		}
	}
	return auth, nil
}

// credentialsID names the Secrets the credentials come from, so that a fresh
// resolution of the repository is shared only by Applications that read it with
// the same Secrets (and is answered without reading them again).
func credentialsID(app *v1.Application) string {
	id := ""
	if ref := app.Spec.Source.Git.SecretRef; ref != nil {
		id += "secret=" + app.Namespace + "/" + ref.Name
	}
	if ref := app.Spec.Source.Git.CASecretRef; ref != nil {
		id += ";ca=" + app.Namespace + "/" + ref.Name
	}
	return id
}

func (r *Reconciler) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return s, nil
}
