// Package testenv gives tests the real thing: one local Kubernetes control plane per
// test binary (started from TestMain), a fresh namespace per test, clients for the
// admin and for restricted service-account identities, and a real Git server.
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		ns := testenv.Namespace(t)
//		cs := testenv.Clientset(t)
//		...
//	}
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
)

// shared is the control plane of this test binary; set by Main.
var shared *cluster.ControlPlane

// Main starts the control plane, runs the tests and stops it, and the Chromium of
// package browser if a test opened one, then exits. When a test fails, the tail of
// every component's log is printed. If the test binary dies instead (panic,
// timeout, SIGKILL), the components and Chromium die with it: they carry a
// parent-death signal.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background() // the root of this test binary's work
	bins, err := kubebin.Ensure(ctx, kubebin.Options{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: Kubernetes binaries: %v\n(run `make test`, which builds them first)\n", err)
		return 1
	}
	shared, err = cluster.Start(ctx, cluster.Options{Binaries: bins})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: starting the control plane: %v\n", err)
		return 1
	}
	code := m.Run()
	browser.Stop() // the tests' Chromium, if one of them opened a browser.New
	if code != 0 {
		shared.KeepDir()
		fmt.Fprintf(os.Stderr, "testenv: tests failed; component logs (full logs kept in %s/logs):\n%s\n",
			shared.Dir, shared.LogTails(3000))
	}
	shared.Stop()
	return code
}

// ControlPlane returns this test binary's control plane.
func ControlPlane(t testing.TB) *cluster.ControlPlane {
	t.Helper()
	if shared == nil {
		t.Fatal("testenv: no control plane; call testenv.Main from TestMain")
	}
	return shared
}

// Config returns an admin client configuration (a copy the test may change).
func Config(t testing.TB) *rest.Config {
	return rest.CopyConfig(ControlPlane(t).Config)
}

// Clientset returns an admin clientset.
func Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Context returns a context that ends when the test does, or after a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace for this test and deletes it when the test ends.
func Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	name := strings.Trim(base, "-") + "-" + randomSuffix()
	cs := Clientset(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"lockstep.dev/test": "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(Context(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is over; deletion is asynchronous and cheap.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// ServiceAccountConfig returns a client configuration that authenticates as the
// service account namespace/name (created when missing) with a short-lived token,
// and nothing else: what it may do is decided by RBAC alone.
func ServiceAccountConfig(t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	ctx, cs := Context(t), Clientset(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount/%s/%s: %v", namespace, name, err)
	}
	expiry := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for ServiceAccount/%s/%s: %v", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(Config(t))
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// Eventually polls cond every 100ms until it returns true, failing the test with
// the last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx := Context(t)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond(ctx)
		if ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s (last error: %v)", what, timeout, last)
}

// GitServer starts a Git server for this test, closed when the test ends.
func GitServer(t testing.TB) *gitserver.Server {
	t.Helper()
	s, err := gitserver.Start(Context(t), gitserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting the Git server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
