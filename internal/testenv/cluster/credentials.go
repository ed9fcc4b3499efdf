package cluster

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// credentialFiles are the paths Start writes and the components read.
type credentialFiles struct {
	caCert, caKey                             string
	apiServerCert, apiServerKey               string
	frontProxyCACert                          string
	frontProxyClientCert, frontProxyClientKey string
	saPrivate, saPublic                       string
	adminKubeconfig                           string
	controllerManagerKubeconfig               string
	schedulerKubeconfig, kwokKubeconfig       string
	kwokConfig                                string
	adminClient                               *http.Client // for /readyz
}

// writeCredentials makes a CA, the API server's serving certificate, a client
// certificate and kubeconfig per component, the front-proxy CA and the
// service-account signing key, as kubeadm would.
func writeCredentials(dir string, apiServerPort int) (credentialFiles, error) {
	var f credentialFiles
	pkiDir := filepath.Join(dir, "pki")
	ca, err := pki.NewCA("lockstep-local-ca")
	if err != nil {
		return f, err
	}
	if f.caCert, f.caKey, err = ca.Write(pkiDir, "ca"); err != nil {
		return f, err
	}
	dns, ips := pki.Loopback()
	serving, err := ca.Issue(pki.Request{
		CommonName: "kube-apiserver",
		DNSNames:   append(dns, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
		IPs:        append(ips, net.IPv4(10, 96, 0, 1)),
		Usage:      pki.Server,
	})
	if err != nil {
		return f, err
	}
	if f.apiServerCert, f.apiServerKey, err = serving.Write(pkiDir, "apiserver"); err != nil {
		return f, err
	}

	frontProxyCA, err := pki.NewCA("lockstep-front-proxy-ca")
	if err != nil {
		return f, err
	}
	if f.frontProxyCACert, _, err = frontProxyCA.Write(pkiDir, "front-proxy-ca"); err != nil {
		return f, err
	}
	frontProxyClient, err := frontProxyCA.Issue(pki.Request{CommonName: "front-proxy-client", Usage: pki.Client})
	if err != nil {
		return f, err
	}
	if f.frontProxyClientCert, f.frontProxyClientKey, err = frontProxyClient.Write(pkiDir, "front-proxy-client"); err != nil {
		return f, err
	}

	saPrivate, saPublic, err := pki.NewSigningKey()
	if err != nil {
		return f, err
	}
	f.saPrivate, f.saPublic = filepath.Join(pkiDir, "sa.key"), filepath.Join(pkiDir, "sa.pub")
	if err := os.WriteFile(f.saPrivate, saPrivate, 0o600); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.saPublic, saPublic, 0o644); err != nil {
		return f, err
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", apiServerPort)
	identities := []struct {
		path   *string
		file   string
		user   string
		groups []string
	}{
		{&f.adminKubeconfig, "admin.kubeconfig", "kubernetes-admin", []string{"system:masters"}},
		{&f.controllerManagerKubeconfig, "controller-manager.kubeconfig", "system:kube-controller-manager", nil},
		{&f.schedulerKubeconfig, "scheduler.kubeconfig", "system:kube-scheduler", nil},
		{&f.kwokKubeconfig, "kwok.kubeconfig", "kwok-controller", []string{"system:masters"}},
	}
	for _, id := range identities {
		client, err := ca.Issue(pki.Request{CommonName: id.user, Organizations: id.groups, Usage: pki.Client})
		if err != nil {
			return f, err
		}
		*id.path = filepath.Join(dir, id.file)
		if err := writeKubeconfig(*id.path, server, ca.CertPEM, id.user, client); err != nil {
			return f, err
		}
		if id.user == "kubernetes-admin" {
			cert, err := client.TLS()
			if err != nil {
				return f, err
			}
			f.adminClient = tlsClient(ca.CertPEM, cert)
		}
	}
	f.kwokConfig = filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(f.kwokConfig, []byte(kwokConfig), 0o644); err != nil {
		return f, err
	}
	return f, nil
}

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded) that
// only its owner can read.
func writeKubeconfig(path, server string, caPEM []byte, user string, client pki.Pair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lockstep"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: client.CertPEM, ClientKeyData: client.KeyPEM}
	cfg.Contexts["lockstep"] = &clientcmdapi.Context{Cluster: "lockstep", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "lockstep"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

func loadConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	// Tests create namespaces and objects in bursts; the default 5 QPS would make
	// them wait on the client, not on the server.
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}
