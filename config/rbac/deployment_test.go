package rbac_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// installedController is the controller as the install's Deployment runs
// it, out of the cluster (KWOK runs no containers): the same command and
// flags, parsed by the same code; each volume the Deployment mounts is a
// folder here (the API's TLS Secret one with a certificate for loopback);
// the API and metrics listen on free loopback ports; it authenticates with
// the token of cfg (the installed service account's).
type installedController struct {
	apiURL     string
	apiPort    int
	metricsURL string
	caPEM      []byte
	container  map[string]any // the Deployment's
	dataDir    string
}

// testPodIP stands in for the controller Pod's address.
const testPodIP = "10.244.0.7"

func runInstalledController(t *testing.T, objs []*unstructured.Unstructured, cfg *rest.Config) installedController {
	t.Helper()
	args, ctl := installedCommand(t, objs, cfg)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := cli.NewRootCommand()
		cmd.SetArgs(args)
		done <- cmd.ExecuteContext(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("lockstep %s stopped with: %v", strings.Join(args, " "), err)
		}
	})
	return ctl
}

// installedCommand is the command line the install's Deployment runs,
// with its volumes as temporary folders, its environment set as the
// kubelet would (t.Setenv), and listening on free loopback ports.
func installedCommand(t testing.TB, objs []*unstructured.Unstructured, cfg *rest.Config) ([]string, installedController) {
	t.Helper()
	var container map[string]any
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == "lockstep-controller" {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			container = containers[0].(map[string]any)
		}
	}
	if container == nil {
		t.Fatal("the install has no controller Deployment")
	}
	// The volumes: a folder for each mount path.
	root := t.TempDir()
	mounts := map[string]string{}
	for _, m := range container["volumeMounts"].([]any) {
		m := m.(map[string]any)
		dir := filepath.Join(root, m["name"].(string))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts[m["mountPath"].(string)] = dir
	}
	tlsDir, ok := mounts["/etc/lockstep/tls"]
	if !ok {
		t.Fatalf("the Deployment mounts no TLS Secret at /etc/lockstep/tls: %v", mounts)
	}
	ca, err := pki.NewCA("test-api-ca")
	if err != nil {
		t.Fatal(err)
	}
	dns, ips := pki.Loopback()
	serving, err := ca.Issue(pki.Request{CommonName: "lockstep", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tlsDir, "tls.crt"), serving.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tlsDir, "tls.key"), serving.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	// The Deployment's arguments, paths moved to the folders.
	var args []string
	for _, a := range container["args"].([]any) {
		arg := a.(string)
		if name, value, ok := strings.Cut(arg, "="); ok {
			for path, dir := range mounts {
				if value == path || strings.HasPrefix(value, path+"/") {
					arg = name + "=" + dir + strings.TrimPrefix(value, path)
				}
			}
		}
		args = append(args, arg)
	}
	if args[0] != "controller" {
		t.Fatalf("the Deployment runs %q, not the controller", args)
	}
	ports := make([]int, 2)
	for i := range ports {
		if ports[i], err = cluster.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	// The environment, as the kubelet would give it: the Pod's address
	// (not loopback, which an EndpointSlice may not hold) and name.
	for _, e := range container["env"].([]any) {
		e := e.(map[string]any)
		value, _ := e["value"].(string)
		if field, ok, _ := unstructured.NestedString(e, "valueFrom", "fieldRef", "fieldPath"); ok {
			value = map[string]string{"status.podIP": testPodIP, "metadata.name": "lockstep-controller-0"}[field]
			if value == "" {
				t.Fatalf("the Deployment's env %v: no stand-in for %s", e, field)
			}
		}
		if e["name"] != "TMPDIR" {
			t.Setenv(e["name"].(string), value)
		}
	}
	api := fmt.Sprintf("127.0.0.1:%d", ports[0])
	args = append(args, "--api-address="+api, fmt.Sprintf("--metrics-address=127.0.0.1:%d", ports[1]), "--kubeconfig="+writeKubeconfig(t, cfg))
	return args, installedController{apiURL: "https://" + api, apiPort: ports[0], metricsURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		caPEM: ca.CertPEM, dataDir: mounts["/var/lib/lockstep"], container: container}
}

// writeKubeconfig writes cfg (a bearer token) as a kubeconfig file.
func writeKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	caData := cfg.CAData
	if len(caData) == 0 && cfg.CAFile != "" {
		var err error
		if caData, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: caData}
	kc.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["controller"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "controller"}
	kc.CurrentContext = "controller"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// adminClient is a cluster administrator's client that knows Lockstep's types.
func adminClient(t testing.TB) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	c, err := client.New(testenv.Config(t), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// installAsAdmin applies the install's objects as lockstep install does
// (the installer's part), each once its kind is served.
func installAsAdmin(t testing.TB, c client.Client, opts config.InstallOptions) []*unstructured.Unstructured {
	t.Helper()
	objs, err := config.Install(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		testenv.Eventually(t, 30*time.Second, "installing "+o.GetKind()+"/"+o.GetName(), func(ctx context.Context) (bool, error) {
			err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("installer"), client.ForceOwnership)
			return err == nil, err
		})
	}
	return objs
}
