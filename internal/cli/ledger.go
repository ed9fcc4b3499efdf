package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/postgres"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// ledgerFlags say where the ledger is: the controller's API (the default: the
// logged-in context, or $LOCKSTEP_SERVER and $LOCKSTEP_TOKEN), or a database
// file for offline work.
type ledgerFlags struct {
	api  apiFlags
	db   string
	kube kubeFlags
}

func (l *ledgerFlags) add(cmd *cobra.Command, withNamespace bool) {
	f := cmd.Flags()
	l.api.add(cmd)
	f.StringVar(&l.db, "db", "", "read this ledger database file, or the PostgreSQL ledger of a postgres:// URL, instead of the API (offline investigation)")
	f.StringVar(&l.kube.kubeconfig, "kubeconfig", "", "kubeconfig, for blame with --db (default $KUBECONFIG)")
	if withNamespace {
		f.StringVarP(&l.kube.namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's, else default)")
	}
}

// open returns the ledger to read and a function that closes it.
func (l *ledgerFlags) open(ctx context.Context) (server.API, func(), error) {
	if l.db != "" {
		store, err := openDB(ctx, l.db)
		if err != nil {
			return nil, nil, err
		}
		svc := &server.Service{Store: store, FieldManager: apply.FieldManager}
		// Blame needs the live object: from the cluster when one is configured;
		// otherwise blame says why it cannot read it (the rest works offline).
		if cfg, _, err := l.kube.config(); err == nil {
			clients, err := kube.NewClients(cfg)
			if err != nil {
				return nil, nil, err
			}
			svc.Live = server.NewKubeLive(clients)
		} else {
			svc.Live = noCluster{err}
		}
		return svc, func() { _ = store.Close() }, nil
	}
	if _, ok, err := l.api.resolve(); err != nil {
		return nil, nil, err
	} else if !ok {
		return nil, nil, errors.New("no ledger to read: log in (lockstep login --server https://HOST:PORT; make dev prints how), set $LOCKSTEP_SERVER and $LOCKSTEP_TOKEN, or read a database file with --db FILE")
	}
	c, _, err := l.api.client()
	if err != nil {
		return nil, nil, err
	}
	return c, func() {}, nil
}

// openDB opens a ledger to read, never creating one: the PostgreSQL
// database of a postgres:// URL or of key=value settings (what
// --ledger-dsn takes), else a SQLite file.
func openDB(ctx context.Context, db string) (audit.Store, error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return postgres.Open(ctx, db, postgres.Options{MustExist: true})
	}
	if _, err := os.Stat(db); err != nil {
		if strings.Contains(db, "=") { // key=value settings, perhaps with a password: never quoted here
			return postgres.Open(ctx, db, postgres.Options{MustExist: true})
		}
		return nil, fmt.Errorf("ledger database: %w", err)
	}
	return sqlite.Open(ctx, db, sqlite.Options{MustExist: true})
}

// namespace is -n, else the kubeconfig context's, else "default": the ledger
// commands work without a cluster.
func (l *ledgerFlags) namespace() string {
	if l.kube.namespace != "" {
		return l.kube.namespace
	}
	if ns, _, err := l.kube.loader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// appName turns APP or NAMESPACE/APP into the ledger's "namespace/name".
func (l *ledgerFlags) appName(arg string) (string, error) {
	if strings.Count(arg, "/") > 1 || strings.HasPrefix(arg, "/") || strings.HasSuffix(arg, "/") {
		return "", fmt.Errorf("application %q: want NAME or NAMESPACE/NAME", arg)
	}
	if strings.Contains(arg, "/") {
		return arg, nil
	}
	return l.namespace() + "/" + arg, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// noCluster is the live reader of an offline session without a usable kubeconfig.
type noCluster struct{ err error }

func (n noCluster) Get(context.Context, string, string, string) (*unstructured.Unstructured, error) {
	return nil, fmt.Errorf("blame reads the live object from the cluster: %w (give --kubeconfig or set $KUBECONFIG)", n.err)
}
