package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/postgres"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// Secrets the controller keeps in its own namespace.
const (
	// LedgerKeySecret holds the ed25519 key that signs the ledger's checkpoints
	// (key "ed25519.key", PKCS#8 PEM) and its public key ("ed25519.pub").
	LedgerKeySecret = "lockstep-ledger-key"
	// APITokenSecret holds the API's read-only bearer token (key "token").
	APITokenSecret = "lockstep-api-token"
)

// LedgerFile is the ledger database's name in the data directory.
const LedgerFile = "ledger.db"

// openLedger opens the ledger (in the data directory, or the PostgreSQL
// database opts.LedgerDSN names) with the signing key from its Secret,
// generating both on first start. An existing ledger signed with another key
// is refused unless opts.LedgerAcceptNewKey, which records the change.
func openLedger(ctx context.Context, cs kubernetes.Interface, opts Options) (*audit.Ledger, audit.Store, error) {
	data, err := secretData(ctx, cs, opts.Namespace, LedgerKeySecret, func() (map[string][]byte, error) {
		key, err := audit.GenerateKey()
		if err != nil {
			return nil, err
		}
		private, public, err := audit.MarshalKey(key)
		return map[string][]byte{"ed25519.key": private, "ed25519.pub": public}, err
	})
	if err != nil {
		return nil, nil, err
	}
	key, err := audit.ParseKey(data["ed25519.key"])
	if err != nil {
		return nil, nil, fmt.Errorf("the ledger key in Secret %s/%s: %w", opts.Namespace, LedgerKeySecret, err)
	}
	store, where, err := openStore(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	l := audit.New(store, key)
	// A lost or replaced key Secret would otherwise start a new signer
	// silently, and verify against the old key would fail with no reason.
	if err := l.CheckKey(ctx, opts.LedgerAcceptNewKey); err != nil {
		_ = store.Close()
		return nil, nil, fmt.Errorf("%s and Secret %s/%s: %w; restore the Secret, or start once with --ledger-accept-new-key to continue the chain under the new key (the change is recorded)",
			where, opts.Namespace, LedgerKeySecret, err)
	}
	return l, store, nil
}

// openStore opens the ledger's store: the PostgreSQL database opts.LedgerDSN
// names, which replicas on different nodes share, else the SQLite file in
// the data directory. where names it for messages, without credentials.
func openStore(ctx context.Context, opts Options) (store audit.Store, where string, err error) {
	if opts.LedgerDSN != "" {
		s, err := postgres.Open(ctx, opts.LedgerDSN, postgres.Options{})
		if err != nil {
			return nil, "", err
		}
		if w := s.Warning(); w != "" {
			opts.Logger.Info("warning: "+w, "database", s.Name())
		}
		return s, s.Name(), nil
	}
	file := filepath.Join(opts.DataDir, LedgerFile)
	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		return nil, "", err
	}
	return s, file, nil
}

// apiToken is the configured token, or the one in its Secret (generated on
// first start).
func apiToken(ctx context.Context, cs kubernetes.Interface, opts Options) (string, error) {
	if opts.APIToken != "" {
		return opts.APIToken, nil
	}
	data, err := secretData(ctx, cs, opts.Namespace, APITokenSecret, func() (map[string][]byte, error) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		return map[string][]byte{"token": []byte(hex.EncodeToString(raw))}, nil
	})
	if err != nil {
		return "", err
	}
	if len(data["token"]) < 16 {
		return "", fmt.Errorf("the API token in Secret %s/%s: key \"token\" is missing or shorter than 16 characters", opts.Namespace, APITokenSecret)
	}
	return string(data["token"]), nil
}

// secretData reads a Secret, creating it from generate when it does not exist.
// Two replicas starting at once agree: the loser of the create reads the winner's.
func secretData(ctx context.Context, cs kubernetes.Interface, namespace, name string, generate func() (map[string][]byte, error)) (map[string][]byte, error) {
	secrets := cs.CoreV1().Secrets(namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return s.Data, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	if err := ensureNamespace(ctx, cs, namespace); err != nil {
		return nil, err
	}
	data, err := generate()
	if err != nil {
		return nil, err
	}
	s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "lockstep"}}, Data: data}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		// Another replica created it first: use theirs.
		if s, err = secrets.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		return s.Data, nil
	} else if err != nil {
		return nil, fmt.Errorf("creating Secret %s/%s: %w", namespace, name, err)
	}
	return data, nil
}

// retentionInterval is how often old records are cut.
const retentionInterval = time.Hour

// retain applies the retention policy now and then every retentionInterval.
func retain(ctx context.Context, l *audit.Ledger, r audit.Retention, log logr.Logger) {
	if r == (audit.Retention{}) {
		return
	}
	for {
		if n, err := l.Retain(ctx, r); err != nil {
			log.Error(err, "ledger retention failed")
		} else if n > 0 {
			log.Info("ledger retention cut old records", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retentionInterval):
		}
	}
}
