package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
)

func newControllerCommand() *cobra.Command {
	opts := controller.DefaultOptions()
	var kubeconfig string
	var qps float32
	var burst int
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controller that keeps Applications in sync with Git",
		Long: `Runs the Lockstep controller. Inside a cluster it uses the pod's service account;
outside, --kubeconfig (or $KUBECONFIG). Logs are JSON lines on standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(qps > 0 || qps < 0) || qps > 0 && burst < 1 { // 0 and NaN included
				return fmt.Errorf("--kube-api-qps %g --kube-api-burst %d: give a positive rate and a burst of at least 1, or a negative rate for no limit in the controller", qps, burst)
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return err
			}
			cfg.QPS, cfg.Burst = qps, burst
			if os.Getenv("GOGC") == "" {
				// The live heap is small (~30 MiB at 500 Applications); Go's default
				// lets the heap double before collecting. Collect sooner: less memory
				// for a little CPU. GOGC in the environment overrides this.
				debug.SetGCPercent(controllerGCPercent)
			}
			if opts.OIDC.Enabled() && (opts.APIAddress == "" || opts.APIAddress == "0") {
				return errors.New("--oidc-issuer needs the API: give --api-address")
			}
			opts.APIToken = os.Getenv("LOCKSTEP_API_TOKEN")
			if opts.LedgerDSN == "" {
				// Read here, not as the flag's default: --help would show it.
				opts.LedgerDSN = os.Getenv("LOCKSTEP_LEDGER_DSN")
			}
			opts.Logger = logr.FromSlogHandler(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			return controller.Run(cmd.Context(), cfg, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	f.Float32Var(&qps, "kube-api-qps", defaultQPS, "requests per second each of the controller's clients (applies, lookups, status writes; per identity it applies as) may send the API server (one sync of a large Application is thousands); negative: no limit in the controller, the API server's priority and fairness alone")
	f.IntVar(&burst, "kube-api-burst", defaultBurst, "requests each client may send at once beyond --kube-api-qps")
	f.BoolVar(&opts.InstallCRDs, "install-crds", false, "install or upgrade the CustomResourceDefinitions at start")
	f.IntVar(&opts.Concurrency, "concurrency", opts.Concurrency, "Applications reconciled at once")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader among replicas with a Lease")
	f.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", opts.LeaderElectionNamespace, "namespace of the leader election Lease")
	f.StringVar(&opts.Namespace, "namespace", opts.Namespace, "the controller's namespace, holding the Secrets lockstep-ledger-key and lockstep-api-token")
	f.StringVar(&opts.DefaultServiceAccount, "default-service-account", "", "service account (in each Application's namespace) that Applications apply as when neither they nor their Project name one; empty: the controller's own identity")
	f.BoolVar(&opts.TenantReadsAsController, "tenant-reads-as-controller", false, "let Applications without a service account have the Secrets they name (Git credentials, their keys, Helm values) read as the controller: for a single team's cluster (make dev does); without it they must have a service account to name any")
	f.DurationVar(&opts.MaxSyncTimeout, "max-sync-timeout", opts.MaxSyncTimeout, "cap of every Application's spec.sync.timeout (hooks and health waits included): how long one sync may hold a worker; 0: no cap")
	addRenderFlags(f, &opts.Render)
	f.DurationVar(&opts.FetchTimeout, "fetch-timeout", reconcile.DefaultFetchTimeout, "time limit of one look at a repository (listing refs, fetching what is new): a Git server that stops answering holds a worker this long")
	f.Var(newBytesValue(&opts.RepositoryCacheSize), "repository-cache-size", "most the repository cache keeps on the data volume, e.g. 20Gi; least recently used repositories go first (default: half the data volume)")
	f.BoolVar(&opts.RequireProjects, "require-projects", false, "fail closed: an Application whose Project does not exist is denied, \"default\" included (without it, a missing \"default\" Project allows everything)")
	f.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "folder for the repository cache and the audit ledger (ledger.db, unless --ledger-dsn): a PersistentVolume in a cluster")
	f.StringVar(&opts.APIAddress, "api-address", opts.APIAddress, "address of the operator API (/api/v1: lockstep login, the CLI and the UI), e.g. 0.0.0.0:8443; TLS with --api-tls-cert/--api-tls-key, plain HTTP only on loopback (empty disables). Accounts, tokens and the RBAC ConfigMap lockstep-rbac live in --namespace; the old ledger-only token is $LOCKSTEP_API_TOKEN or the Secret lockstep-api-token")
	f.StringVar(&opts.APIService, "api-service", "", "a Service without a selector that the leader points at itself (an EndpointSlice of the same name), as the install's Service lockstep: only the leader serves the API")
	f.StringVar(&opts.PodIP, "pod-ip", os.Getenv("POD_IP"), "this replica's Pod IP, for --api-service (default $POD_IP)")
	f.StringVar(&opts.PodName, "pod-name", os.Getenv("POD_NAME"), "this replica's Pod name, for --api-service (default $POD_NAME)")
	f.StringVar(&opts.APITLSCert, "api-tls-cert", "", "TLS certificate file for the API (PEM)")
	f.StringVar(&opts.APITLSKey, "api-tls-key", "", "TLS key file for the API (PEM)")
	f.BoolVar(&opts.APIInsecureHTTP, "api-insecure-http", false, "serve the API without TLS on an address other than loopback: the bearer token crosses the network in clear text")
	f.StringVar(&opts.APIPublicURL, "api-public-url", "", "the URL users reach the UI and the API at, e.g. https://lockstep.example, when a proxy in front (an ingress that ends TLS) serves it under another name or scheme: browsers' pages from there count as the API's own (without it, behind such a proxy, the UI's logins and actions are refused)")
	f.DurationVar(&opts.SessionTTL, "session-ttl", 12*time.Hour, "how long an API session (password or single sign-on) lasts before its user logs in again")
	addOIDCFlags(f, &opts.OIDC)
	f.BoolVar(&opts.LedgerAcceptNewKey, "ledger-accept-new-key", false, "continue an existing ledger whose signing key Secret was lost or replaced: the change is recorded in the ledger (without it the controller refuses to start)")
	f.DurationVar(&opts.LedgerRetention.MaxAge, "ledger-retention-age", 0, "drop ledger records older than this, e.g. 8760h (0 keeps all); the cut is signed")
	f.Uint64Var(&opts.LedgerRetention.MaxRecords, "ledger-retention-records", 0, "keep at most this many ledger records (0 keeps all)")
	f.StringVar(&opts.LedgerDSN, "ledger-dsn", "", "keep the audit ledger in this PostgreSQL database instead of ledger.db in --data-dir, so that replicas on different nodes share it: postgres://USER@HOST:5432/DATABASE?sslmode=verify-full (default $LOCKSTEP_LEDGER_DSN; a password here shows in the process list: give it in $LOCKSTEP_LEDGER_DSN or $PGPASSWORD from a Secret)")
	f.StringVar(&opts.MetricsAddress, "metrics-address", opts.MetricsAddress, "address for Prometheus metrics, e.g. :8080 (0 disables)")
	f.BoolVar(&opts.Profiling, "profiling", false, "serve Go's /debug/pprof/ on the metrics address, for diagnosing CPU and memory")
	return cmd
}

// The controller's client-side rate limit, per client: what one sync of a
// large Application may ask at once, within what the API server's priority
// and fairness admits anyway.
const (
	defaultQPS   = 100
	defaultBurst = 200
)

// controllerGCPercent is the controller's GOGC unless the environment sets one.
const controllerGCPercent = 50
