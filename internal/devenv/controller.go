package devenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// AppNamespace holds the example Applications and their Git credentials.
const AppNamespace = "lockstep"

// PollInterval is how often the example Applications look for new commits; short,
// so a push shows up quickly without a webhook.
const PollInterval = 10 * time.Second

// exampleApps are the Applications `lockstep dev` creates: one per overlay,
// each promoted from the one before (dev → stage → prod), and the Helm chart.
var exampleApps = []struct {
	name, path, namespace string
	promotion             *v1.Promotion
}{
	{"webapp-dev", "overlays/dev", "webapp-dev", nil},
	{"webapp-stage", "overlays/stage", "webapp-stage", &v1.Promotion{From: "webapp-dev", Copy: v1.PromotionCopy{KustomizeImages: true}}},
	{"webapp-prod", "overlays/prod", "webapp-prod", &v1.Promotion{From: "webapp-stage", Copy: v1.PromotionCopy{KustomizeImages: true},
		Gates: v1.PromotionGates{Soak: &metav1.Duration{Duration: time.Minute}}}},
	{"webapp-helm", "chart", "webapp-helm", nil},
}

// startController runs the controller in this process, logging to
// StateDir/controller.log, with its API over HTTPS; creates the example
// Applications and, once they are Ready, the API's accounts.
func (e *Env) startController(ctx context.Context, progress io.Writer) error {
	logFile, err := os.OpenFile(filepath.Join(e.StateDir, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	opts := controller.DefaultOptions()
	// One team, no service accounts: the controller reads what the examples name.
	opts.TenantReadsAsController = true
	if opts.APIAddress, err = apiAddress(); err != nil {
		return err
	}
	if opts.APIToken, err = randomToken(); err != nil {
		return err
	}
	if e.APICAFile, opts.APITLSCert, opts.APITLSKey, err = e.writeAPICertificates(); err != nil {
		return err
	}
	e.APIURL, e.LedgerToken = "https://"+opts.APIAddress, opts.APIToken
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	finished := make(chan struct{}) // closed when the controller has stopped
	var runErr error
	opts.InstallCRDs = true
	opts.DataDir = filepath.Join(e.StateDir, "controller")
	opts.Logger = logr.FromSlogHandler(slog.NewJSONHandler(logFile, nil))
	go func() {
		runErr = controller.Run(ctx, e.ControlPlane.Config, opts)
		close(finished)
	}()
	e.stopController = func() {
		cancel()
		<-finished
		_ = logFile.Close()
	}
	stopped := func() error { return fmt.Errorf("the controller stopped: %w (see controller.log)", runErr) }
	wait := func(timeout time.Duration) waiter {
		return func(what string, cond func() bool) error { return waitFor(ctx, finished, stopped, timeout, what, cond) }
	}

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	c, err := client.New(e.ControlPlane.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := wait(time.Minute)("the Application CRD", func() bool { return c.List(ctx, &v1.ApplicationList{}) == nil }); err != nil {
		return err
	}
	if err := e.createExampleApps(ctx, c, opts.Namespace); err != nil {
		return err
	}
	if err := e.connectWebhook(ctx, c, wait(time.Minute)); err != nil {
		return err
	}
	fmt.Fprintf(progress, "dev: controller running; waiting for %d example Applications to sync\n", len(exampleApps))
	err = wait(2*time.Minute)("the example Applications to become Ready", func() bool {
		for _, a := range exampleApps {
			app := &v1.Application{}
			if c.Get(ctx, client.ObjectKey{Namespace: AppNamespace, Name: a.name}, app) != nil ||
				!meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReady) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "dev: example Applications synced; setting up the API's accounts %s and %s\n", AdminAccount, ViewerAccount)
	return e.setUpAccounts(ctx, c, opts.Namespace, wait(time.Minute))
}

// createExampleApps creates the namespace, a read-only Git user's credentials
// and CA as Secrets, the Project with a writing Git user's credentials and a
// signing key in the controller's namespace (controllerNS), and one
// Application per overlay.
func (e *Env) createExampleApps(ctx context.Context, c client.Client, controllerNS string) error {
	password, err := randomToken()
	if err != nil {
		return err
	}
	e.Git.AddUser("lockstep", password, gitserver.Read)
	ca, err := os.ReadFile(e.Git.CAFile)
	if err != nil {
		return err
	}
	// Rollbacks and promotions are commits, pushed by a user that may write
	// and signed with a key of Lockstep's own.
	writePassword, err := randomToken()
	if err != nil {
		return err
	}
	e.Git.AddUser(GitWriter, writePassword, gitserver.ReadWrite)
	signingKey, err := gitserver.NewSSHKey()
	if err != nil {
		return err
	}
	writeLabel := map[string]string{v1.LabelSecretUse: v1.SecretUseGitWrite}
	automated := true
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AppNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: AppNamespace},
			Data: map[string][]byte{"username": []byte("lockstep"), "password": []byte(password)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-ca", Namespace: AppNamespace},
			Data: map[string][]byte{"ca.crt": ca}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "webapp-git-write", Namespace: controllerNS, Labels: writeLabel},
			Data: map[string][]byte{"username": []byte(GitWriter), "password": []byte(writePassword), "ca.crt": ca}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "webapp-git-sign", Namespace: controllerNS, Labels: writeLabel},
			Data: map[string][]byte{"signing.key": signingKey.PrivateKeyPEM}},
		exampleProject(e.Git.HTTPSURL(ExampleRepo)),
	}
	for _, a := range exampleApps {
		objs = append(objs, &v1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: a.name, Namespace: AppNamespace},
			Spec: v1.ApplicationSpec{
				Source: v1.Source{
					Git: v1.GitSource{URL: e.Git.HTTPSURL(ExampleRepo), Ref: v1.GitRef{Branch: "main"},
						SecretRef: &v1.LocalObjectReference{Name: "git-auth"}, CASecretRef: &v1.LocalObjectReference{Name: "git-ca"}},
					Path: a.path,
				},
				Project:     ExampleProject,
				Destination: v1.Destination{Namespace: a.namespace},
				Sync: v1.SyncPolicy{Automated: &automated, Prune: true, CreateNamespace: true, SelfHeal: true,
					Interval: &metav1.Duration{Duration: PollInterval}},
				Promotion: a.promotion,
			},
		})
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// ExampleProject holds the example Applications' guardrails.
const ExampleProject = "webapp"

// GitWriter is the Git user Lockstep writes rollbacks and promotions as.
const GitWriter = "lockstep-writer"

// exampleProject lets the example Applications use their repository and the
// webapp-* namespaces only, no RBAC objects and no cluster-scoped kinds, and
// images from the example's internal registry pinned by digest: push an
// image from docker.io and watch the sync stop.
func exampleProject(repoURL string) *v1.Project {
	return &v1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: ExampleProject},
		Spec: v1.ProjectSpec{
			Description:         "The example webapp: its repository, its namespaces, images from the internal registry pinned by digest.",
			SourceRepos:         []string{repoURL},
			SourceNamespaces:    []string{AppNamespace},
			Destinations:        []v1.ProjectDestination{{Namespace: "webapp-*"}},
			NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}}},
			Images:              &v1.ImagePolicy{Registries: []string{"registry.internal.example"}, RequireDigest: true},
			// Straight onto main, for the tour; a real Project leaves push at
			// Branch and merges through review.
			GitWrite: &v1.GitWrite{SecretRef: v1.LocalObjectReference{Name: "webapp-git-write"},
				SigningKeySecretRef: &v1.LocalObjectReference{Name: "webapp-git-sign"}, Push: v1.GitPushDirect},
		},
	}
}

// freeLocalAddress is a loopback address with a port free now.
// PreferredAPIAddress is where make dev serves the API and UI when the port
// is free, so that a bookmark of the UI works from run to run; another free
// port otherwise.
const PreferredAPIAddress = "127.0.0.1:8443"

func apiAddress() (string, error) {
	if l, err := net.Listen("tcp", PreferredAPIAddress); err == nil {
		_ = l.Close()
		return PreferredAPIAddress, nil
	}
	return freeLocalAddress()
}

func freeLocalAddress() (string, error) {
	port, err := cluster.FreePort()
	return fmt.Sprintf("127.0.0.1:%d", port), err
}

// waiter waits for what until cond holds; waitFor with the controller's
// channel and a timeout.
type waiter func(what string, cond func() bool) error

// waitFor polls cond until it holds, the controller stops, or timeout passes.
func waitFor(ctx context.Context, finished <-chan struct{}, stopped func() error, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-finished:
			return fmt.Errorf("waiting for %s: %w", what, stopped())
		case <-deadline:
			return fmt.Errorf("timed out after %s waiting for %s; see controller.log", timeout, what)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
