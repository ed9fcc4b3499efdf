package devenv

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// ExampleReceiver takes the dev Git server's push events.
const ExampleReceiver = "git"

// connectWebhook creates a Receiver for the example's Applications and has
// the Git server send it every push, as a Gitea would: a pushed commit is
// applied in well under a second, not at the next interval.
func (e *Env) connectWebhook(ctx context.Context, c client.Client, wait waiter) error {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: AppNamespace, Name: "git-webhook"}
	if err := c.Get(ctx, key, secret); apierrors.IsNotFound(err) {
		token, err := randomToken()
		if err != nil {
			return err
		}
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{v1.LabelSecretUse: v1.SecretUseReceiver}},
			Data: map[string][]byte{v1.ReceiverSecretKey: []byte(token)}}
		if err := c.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating the webhook's Secret: %w", err)
		}
	} else if err != nil {
		return err
	}
	rcv := &v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: ExampleReceiver, Namespace: AppNamespace},
		Spec: v1.ReceiverSpec{Type: "gitea", SecretRef: v1.LocalObjectReference{Name: key.Name}}}
	if err := c.Create(ctx, rcv); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the Receiver: %w", err)
	}
	err := wait("the Receiver to be Ready", func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(rcv), rcv) == nil && meta.IsStatusConditionTrue(rcv.Status.Conditions, "Ready")
	})
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(e.APICAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	e.Git.AddWebhook(gitserver.Webhook{URL: e.APIURL + rcv.Status.Path, Secret: secret.Data[v1.ReceiverSecretKey], RootCAs: pool})
	return nil
}
