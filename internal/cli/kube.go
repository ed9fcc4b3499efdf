package cli

import (
	"fmt"

	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubeFlags are the connection flags of commands that talk to a cluster.
type kubeFlags struct {
	kubeconfig string
	namespace  string
	// clusterOnly: the command talks to the cluster itself, never to the
	// Lockstep API (install, bootstrap), and says so when it has no kubeconfig.
	clusterOnly bool
}

func (k *kubeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVarP(&k.namespace, "namespace", "n", "", "namespace of the Application (default: the kubeconfig context's)")
}

func (k *kubeFlags) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
}

// config returns the client configuration and the namespace to use.
func (k *kubeFlags) config() (*rest.Config, string, error) {
	loader := k.loader()
	cfg, err := loader.ClientConfig()
	if clientcmd.IsEmptyConfig(err) && k.clusterOnly {
		return nil, "", fmt.Errorf("no cluster to install into: give a cluster administrator's kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config), or --dry-run to print the YAML: %w", err)
	}
	if clientcmd.IsEmptyConfig(err) {
		return nil, "", fmt.Errorf("nothing to talk to: log in to the Lockstep API (lockstep login --server https://HOST:PORT), or give a kubeconfig (--kubeconfig, $KUBECONFIG): %w", err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns := k.namespace
	if ns == "" {
		if ns, _, err = loader.Namespace(); err != nil {
			return nil, "", err
		}
	}
	return cfg, ns, nil
}

// client returns a client that knows Applications.
func (k *kubeFlags) client() (client.Client, *rest.Config, string, error) {
	cfg, ns, err := k.config()
	if err != nil {
		return nil, nil, "", err
	}
	c, err := kube.NewClient(cfg)
	return c, cfg, ns, err
}
