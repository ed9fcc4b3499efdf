package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"path/filepath"
	"strconv"
	"time"

	"github.com/lockstep-dev/lockstep/internal/testenv/kubebin"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

const (
	etcdClient        = "etcd"
	etcdPeer          = "etcd-peer"
	apiServer         = kubebin.APIServer
	controllerManager = kubebin.ControllerManager
	scheduler         = kubebin.Scheduler
	kwok              = kubebin.KWOK
)

var componentNames = []string{etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwok}

// KWOKNodeAnnotation marks the nodes KWOK simulates.
const KWOKNodeAnnotation = "kwok.x-k8s.io/node"

type component struct {
	spec proc.Spec
	// waitBeforeNext must pass before the next component starts (etcd before the
	// API server, the API server before its clients).
	waitBeforeNext func(context.Context) error
	// waitAfterAll must pass before Start returns; such components start together.
	waitAfterAll func(context.Context) error
}

// components lists the processes of a control plane in start order, with the flags
// proven on this kind of machine (see shared/reference/local-control-plane).
func components(bin kubebin.Set, dir string, ports map[string]int, f credentialFiles) []component {
	port := func(name string) string { return strconv.Itoa(ports[name]) }
	logPath := func(name string) string { return filepath.Join(dir, "logs", name+".log") }
	local := func(name string) string { return "127.0.0.1:" + port(name) }
	etcdURL := "http://" + local(etcdClient)
	peerURL := "http://" + local(etcdPeer)
	return []component{
		{
			spec: proc.Spec{Name: kubebin.Etcd, Path: bin.Path(kubebin.Etcd), LogPath: logPath(kubebin.Etcd), Args: []string{
				"--name=lockstep",
				"--data-dir=" + filepath.Join(dir, "etcd-data"),
				"--listen-client-urls=" + etcdURL,
				"--advertise-client-urls=" + etcdURL,
				"--listen-peer-urls=" + peerURL,
				"--initial-advertise-peer-urls=" + peerURL,
				"--initial-cluster=lockstep=" + peerURL,
				"--initial-cluster-state=new",
				// A throw-away cluster needs no durability; fsync dominates start time otherwise.
				"--unsafe-no-fsync=true",
				"--log-level=warn",
			}},
			waitBeforeNext: httpOK(plainClient(), etcdURL+"/health"),
		},
		{
			spec: proc.Spec{Name: apiServer, Path: bin.Path(apiServer), LogPath: logPath(apiServer), Args: []string{
				"--etcd-servers=" + etcdURL,
				"--bind-address=127.0.0.1",
				"--advertise-address=127.0.0.1",
				"--secure-port=" + port(apiServer),
				"--cert-dir=" + filepath.Join(dir, "pki"),
				"--tls-cert-file=" + f.apiServerCert,
				"--tls-private-key-file=" + f.apiServerKey,
				"--client-ca-file=" + f.caCert,
				"--authorization-mode=Node,RBAC",
				"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
				"--service-account-key-file=" + f.saPublic,
				"--service-account-signing-key-file=" + f.saPrivate,
				"--service-cluster-ip-range=10.96.0.0/12",
				// Without the front-proxy (requestheader) CA, the controller manager and
				// scheduler log errors about a missing CA bundle forever.
				"--requestheader-client-ca-file=" + f.frontProxyCACert,
				"--requestheader-allowed-names=front-proxy-client",
				"--requestheader-username-headers=X-Remote-User",
				"--requestheader-group-headers=X-Remote-Group",
				"--requestheader-extra-headers-prefix=X-Remote-Extra-",
				"--proxy-client-cert-file=" + f.frontProxyClientCert,
				"--proxy-client-key-file=" + f.frontProxyClientKey,
				// Loopback is not a valid endpoint for the `kubernetes` Service.
				"--endpoint-reconciler-type=none",
				"--allow-privileged=true",
			}},
			waitBeforeNext: httpOK(f.adminClient, "https://"+local(apiServer)+"/readyz"),
		},
		{
			spec: proc.Spec{Name: controllerManager, Path: bin.Path(controllerManager), LogPath: logPath(controllerManager), Args: []string{
				"--kubeconfig=" + f.controllerManagerKubeconfig,
				"--authentication-kubeconfig=" + f.controllerManagerKubeconfig,
				"--authorization-kubeconfig=" + f.controllerManagerKubeconfig,
				"--bind-address=127.0.0.1",
				"--secure-port=" + port(controllerManager),
				"--cert-dir=" + filepath.Join(dir, "pki", controllerManager),
				"--leader-elect=false",
				"--use-service-account-credentials=true",
				"--controllers=*",
				"--service-account-private-key-file=" + f.saPrivate,
				"--root-ca-file=" + f.caCert,
				"--cluster-signing-cert-file=" + f.caCert,
				"--cluster-signing-key-file=" + f.caKey,
			}},
			waitAfterAll: httpOK(insecureClient(), "https://"+local(controllerManager)+"/healthz"),
		},
		{
			spec: proc.Spec{Name: scheduler, Path: bin.Path(scheduler), LogPath: logPath(scheduler), Args: []string{
				"--kubeconfig=" + f.schedulerKubeconfig,
				"--authentication-kubeconfig=" + f.schedulerKubeconfig,
				"--authorization-kubeconfig=" + f.schedulerKubeconfig,
				"--bind-address=127.0.0.1",
				"--secure-port=" + port(scheduler),
				"--cert-dir=" + filepath.Join(dir, "pki", scheduler),
				"--leader-elect=false",
			}},
			waitAfterAll: httpOK(insecureClient(), "https://"+local(scheduler)+"/healthz"),
		},
		{
			// KWOK reads ~/.kwok/kwok.yaml before --config when it exists, so HOME points
			// at a private folder to keep a developer's own KWOK settings out.
			spec: proc.Spec{Name: kwok, Path: bin.Path(kwok), LogPath: logPath(kwok),
				Env: []string{"HOME=" + filepath.Join(dir, "kwok-home")},
				Args: []string{
					"--kubeconfig=" + f.kwokKubeconfig,
					"--config=" + f.kwokConfig,
					"--manage-all-nodes=false",
					"--manage-nodes-with-annotation-selector=" + KWOKNodeAnnotation + "=fake",
					"--node-ip=127.0.0.1",
					"--node-lease-duration-seconds=40",
					"--cidr=10.244.0.1/16",
					"--server-address=" + local(kwok),
				}},
			waitAfterAll: httpOK(plainClient(), "http://"+local(kwok)+"/healthz"),
		},
	}
}

// kwokConfig has no Stage objects, so KWOK uses its built-in node and pod stages and
// needs no CRDs.
const kwokConfig = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableDebuggingHandlers: false
  enableProfilingHandler: false
`

func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func plainClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

// insecureClient talks to the controller manager and scheduler, which serve
// /healthz with a certificate they generate themselves at start.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed health endpoint on loopback
	}}
}

func tlsClient(caPEM []byte, cert tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
}
