package devenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// The API accounts `lockstep dev` sets up: the controller's initial admin, and
// a read-only account to show what RBAC refuses.
const (
	AdminAccount  = auth.AdminAccount
	ViewerAccount = "viewer"
)

// viewerGrant is the RBAC line that makes ViewerAccount read-only.
const viewerGrant = "g, " + ViewerAccount + ", role:readonly"

// apiCADir holds the API's CA under StateDir, kept from run to run.
const apiCADir = "api-ca"

// writeAPICertificates makes a CA of the API's own and a serving certificate for
// this machine's loopback names, in StateDir/api, and returns the CA's file and
// the serving pair's files.
func (e *Env) writeAPICertificates() (caFile, certFile, keyFile string, err error) {
	dir := filepath.Join(e.StateDir, "api")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	// The CA outlives the run (StateDir/api-ca is not discarded), so that a
	// browser told to trust it once keeps trusting the UI.
	ca, err := pki.LoopbackCA(filepath.Join(e.StateDir, apiCADir), "Lockstep dev API CA (loopback only)")
	if err != nil {
		return "", "", "", err
	}
	dns, ips := pki.Loopback()
	serving, err := ca.Issue(pki.Request{CommonName: "lockstep-api", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		return "", "", "", err
	}
	certFile, keyFile, err = serving.Write(dir, "server")
	return filepath.Join(e.StateDir, apiCADir, "ca.crt"), certFile, keyFile, err
}

// setUpAccounts logs in over HTTPS as the admin the controller made on its first
// start (its password read from the Secret lockstep-initial-admin in
// namespace), creates ViewerAccount, grants it role:readonly in the RBAC
// ConfigMap, and returns once the viewer can read Applications.
func (e *Env) setUpAccounts(ctx context.Context, c client.Client, namespace string, wait waiter) error {
	ca, err := os.ReadFile(e.APICAFile)
	if err != nil {
		return err
	}
	initial := &corev1.Secret{}
	if err := wait("the admin account's initial password", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: auth.SecretInitialAdmin}, initial) == nil
	}); err != nil {
		return err
	}
	e.AdminPassword = string(initial.Data["password"])
	var admin *server.Client
	var loginErr error
	if err := wait("the API to let "+AdminAccount+" log in", func() bool {
		admin, loginErr = e.login(ctx, ca, AdminAccount, e.AdminPassword)
		return loginErr == nil
	}); err != nil {
		return fmt.Errorf("%w (the last try: %w)", err, loginErr)
	}
	if e.ViewerPassword, err = randomToken(); err != nil {
		return err
	}
	err = admin.CreateAccount(ctx, ViewerAccount, e.ViewerPassword)
	var se *server.StatusError
	if errors.As(err, &se) && se.Code == http.StatusConflict {
		err = admin.SetPassword(ctx, ViewerAccount, e.ViewerPassword)
	}
	if err != nil {
		return fmt.Errorf("account %s: %w", ViewerAccount, err)
	}
	if err := grantViewer(ctx, c, namespace); err != nil {
		return err
	}
	// The controller reloads the policy from a watch: wait until it has.
	var viewer *server.Client
	var list server.AppList
	err = wait("the read-only account "+ViewerAccount+" to see the example Applications", func() bool {
		if viewer == nil {
			if viewer, loginErr = e.login(ctx, ca, ViewerAccount, e.ViewerPassword); loginErr != nil {
				return false
			}
		}
		list, loginErr = viewer.Applications(ctx, server.ListOptions{Namespace: AppNamespace})
		return loginErr == nil && len(list.Items) == len(exampleApps)
	})
	if err != nil {
		return fmt.Errorf("%w (the last try: %v, %d Applications)", err, loginErr, len(list.Items))
	}
	return nil
}

// login returns a client of the dev API with a session of user's.
func (e *Env) login(ctx context.Context, caPEM []byte, user, password string) (*server.Client, error) {
	opts := server.ClientOptions{Server: e.APIURL, CAData: caPEM, AllowNoToken: true}
	c, err := server.NewClientWith(opts)
	if err != nil {
		return nil, err
	}
	s, err := c.Login(ctx, user, password)
	if err != nil {
		return nil, err
	}
	opts.Token, opts.AllowNoToken = s.Token, false
	return server.NewClientWith(opts)
}

// grantViewer adds viewerGrant to the RBAC ConfigMap's policy.csv, creating
// the ConfigMap when missing and keeping every line already there.
func grantViewer(ctx context.Context, c client.Client, namespace string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: controller.RBACConfigMap}}
	_, err := controllerutil.CreateOrUpdate(ctx, c, cm, func() error {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["policy.csv"] = withLine(cm.Data["policy.csv"], viewerGrant)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ConfigMap %s/%s: %w", namespace, controller.RBACConfigMap, err)
	}
	return nil
}

// withLine is csv with line appended, unless a line equal to it but for
// spaces is there already.
func withLine(csv, line string) string {
	squash := func(s string) string { return strings.Join(strings.Fields(strings.ReplaceAll(s, ",", " , ")), " ") }
	for _, l := range strings.Split(csv, "\n") {
		if squash(l) == squash(line) {
			return csv
		}
	}
	if csv != "" && !strings.HasSuffix(csv, "\n") {
		csv += "\n"
	}
	return csv + line + "\n"
}
