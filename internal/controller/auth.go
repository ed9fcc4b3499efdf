package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// RBACConfigMap holds the API's RBAC policy (policy.csv, policy.default,
// scopes) in the controller's namespace; it is reloaded on change.
const RBACConfigMap = "lockstep-rbac"

// authSecrets are the Secrets package auth keeps its state in.
var authSecrets = map[string]bool{auth.SecretAccounts: true, auth.SecretTokens: true, auth.SecretSessions: true}

// secretWriter is auth.Writer over the controller's namespace.
type secretWriter struct {
	cs        kubernetes.Interface
	namespace string
}

// Update implements auth.Writer: read, change, write, again on a conflict.
func (w secretWriter) Update(ctx context.Context, name string, mutate func(map[string][]byte) error) (map[string][]byte, error) {
	secrets := w.cs.CoreV1().Secrets(w.namespace)
	var written map[string][]byte
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if create {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "lockstep"}}}
		} else if err != nil {
			return err
		}
		data := maps.Clone(s.Data)
		if data == nil {
			data = map[string][]byte{}
		}
		if err := mutate(data); err != nil {
			return err
		}
		s.Data = data
		if create {
			_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("secrets"), name, err)
			}
		} else {
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
		}
		written = data
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s/%s: %w", w.namespace, name, err)
	}
	return written, nil
}

// bootstrapAuth makes what the API needs on first start: the session key and,
// when there are no accounts yet, the admin account with a random password,
// which it also writes to the Secret lockstep-initial-admin for the operator
// to read once.
func bootstrapAuth(ctx context.Context, cs kubernetes.Interface, namespace string, log logr.Logger) error {
	if _, err := secretData(ctx, cs, namespace, auth.SecretSessions, func() (map[string][]byte, error) {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return map[string][]byte{"key": key}, err
	}); err != nil {
		return err
	}
	created := false
	_, err := secretData(ctx, cs, namespace, auth.SecretAccounts, func() (map[string][]byte, error) {
		password, err := randomPassword()
		if err != nil {
			return nil, err
		}
		hash, err := auth.HashPassword(password, 0)
		if err != nil {
			return nil, err
		}
		if _, err := secretData(ctx, cs, namespace, auth.SecretInitialAdmin, func() (map[string][]byte, error) {
			return map[string][]byte{"username": []byte(auth.AdminAccount), "password": []byte(password)}, nil
		}); err != nil {
			return nil, err
		}
		created = true
		return auth.AccountData(auth.AdminAccount, hash, time.Now())
	})
	if created {
		log.Info("created the admin account: its password is in the Secret "+auth.SecretInitialAdmin+"; log in, change it (lockstep account passwd), then delete that Secret", "namespace", namespace)
	}
	return err
}

func randomPassword() (string, error) {
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// watchAuth keeps authn and policy loaded from their Secrets and ConfigMap
// in namespace until ctx ends, and returns once both were read. Only that
// namespace is watched; Secrets other than auth's are dropped on arrival, so
// none of their data stays in memory. With single sign-on on (sso not nil),
// it also warns when the ConfigMap's scopes name claims SSO does not read as
// groups.
func watchAuth(ctx context.Context, cs kubernetes.Interface, namespace string, authn *auth.Authenticator, policy *rbac.Store, sso *auth.OIDCConfig, log logr.Logger) error {
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace))
	secrets := factory.Core().V1().Secrets().Informer()
	if err := secrets.SetTransform(func(o any) (any, error) {
		if s, ok := o.(*corev1.Secret); ok && !authSecrets[s.Name] {
			s.Data, s.StringData = nil, nil
		}
		return o, nil
	}); err != nil {
		return err
	}
	loadSecret := func(o any, deleted bool) {
		s, ok := o.(*corev1.Secret)
		if !ok || !authSecrets[s.Name] {
			return
		}
		data := s.Data
		if deleted {
			data = nil
		}
		for _, err := range authn.Load(s.Name, data) {
			log.Error(err, "an auth Secret has a problem; the rest of it is used")
		}
	}
	if _, err := secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { loadSecret(o, false) },
		UpdateFunc: func(_, o any) { loadSecret(o, false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			loadSecret(o, true)
		},
	}); err != nil {
		return err
	}
	maps := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", RBACConfigMap).String()
		}))
	configMaps := maps.Core().V1().ConfigMaps().Informer()
	loadPolicy := func(o any, deleted bool) {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok {
			return
		}
		data := cm.Data
		if deleted {
			data = nil
		}
		if err := policy.Load(data); err != nil {
			log.Error(err, "the RBAC ConfigMap "+RBACConfigMap+" is invalid; the last valid policy stays in force")
			return
		}
		for _, w := range policy.Policy().Warnings() {
			log.Info("RBAC policy warning", "warning", w)
		}
		if sso != nil {
			if w := scopesWarning(data, policy.Policy().Scopes(), *sso); w != "" {
				log.Info("RBAC policy warning", "warning", w)
			}
		}
		log.Info("RBAC policy loaded", "configMap", RBACConfigMap)
	}
	if _, err := configMaps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { loadPolicy(o, false) },
		UpdateFunc: func(_, o any) { loadPolicy(o, false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			loadPolicy(o, true)
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	maps.Start(ctx.Done())
	for _, synced := range []cache.InformerSynced{secrets.HasSynced, configMaps.HasSynced} {
		if !cache.WaitForCacheSync(ctx.Done(), synced) {
			return fmt.Errorf("reading the API's Secrets and RBAC ConfigMap in %s: %w", namespace, ctx.Err())
		}
	}
	return nil
}
