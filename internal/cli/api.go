package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-dev/lockstep/internal/server"
)

// apiFlags say which Lockstep API a command talks to and with which
// credential: flags first, then $LOCKSTEP_SERVER and $LOCKSTEP_TOKEN, then the
// configuration's current context (lockstep login writes it).
type apiFlags struct {
	server, token, context, caFile string
	insecure                       bool
}

func (a *apiFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.server, "server", "", "the Lockstep API, https://host:port (default $LOCKSTEP_SERVER, then the current context)")
	f.StringVar(&a.token, "token", "", "a session or API token (default $LOCKSTEP_TOKEN, then the current context's)")
	f.StringVar(&a.context, "context", "", "the context of the configuration to use (see lockstep context)")
	f.StringVar(&a.caFile, "certificate-authority", "", "PEM file of the CA that signed the server's certificate")
	f.BoolVar(&a.insecure, "insecure-skip-tls-verify", false, "accept any server certificate (test servers only)")
}

// resolved is where a command's API calls go.
type resolved struct {
	server.ClientOptions
	// Namespace is the context's default namespace ("" when none).
	Namespace string
	// Context names the context used, if any.
	Context string
}

// resolve finds the server and credential; ok is false when none is
// configured anywhere (the command may then use a kubeconfig).
func (a *apiFlags) resolve() (r resolved, ok bool, err error) {
	cfg, _, err := LoadConfig()
	if err != nil {
		return r, false, err
	}
	sc, err := cfg.Context(a.context)
	if err != nil {
		return r, false, err
	}
	r.Server = firstOf(a.server, os.Getenv("LOCKSTEP_SERVER"))
	r.Token = firstOf(a.token, os.Getenv("LOCKSTEP_TOKEN"))
	if sc != nil && (r.Server == "" || strings.TrimSuffix(r.Server, "/") == strings.TrimSuffix(sc.Server, "/")) {
		r.Server = sc.Server
		r.Token = firstOf(r.Token, sc.Token)
		r.CAData = []byte(sc.CertificateAuthority)
		r.InsecureSkipVerify = sc.InsecureSkipTLSVerify
		r.Namespace, r.Context = sc.Namespace, sc.Name
	}
	if a.caFile != "" {
		if r.CAData, err = os.ReadFile(a.caFile); err != nil {
			return r, false, fmt.Errorf("--certificate-authority: %w", err)
		}
	}
	r.InsecureSkipVerify = r.InsecureSkipVerify || a.insecure
	return r, r.Server != "", nil
}

// client returns a client of the resolved API, or an error saying how to
// configure one.
func (a *apiFlags) client() (*server.Client, resolved, error) {
	r, ok, err := a.resolve()
	if err != nil {
		return nil, r, err
	}
	if !ok {
		return nil, r, fmt.Errorf("no Lockstep API configured: run lockstep login --server https://HOST:PORT (or set $LOCKSTEP_SERVER and $LOCKSTEP_TOKEN)")
	}
	c, err := server.NewClientWith(r.ClientOptions)
	return c, r, err
}

// modeFlags pick how a command reaches Lockstep: through the API when one is
// configured and no --kubeconfig was given, else through a kubeconfig (the
// cluster admin's way).
type modeFlags struct {
	api  apiFlags
	kube kubeFlags
}

func (m *modeFlags) add(cmd *cobra.Command) {
	m.api.add(cmd)
	m.kube.add(cmd)
}

// useAPI says whether to go through the API.
func (m *modeFlags) useAPI() (bool, error) {
	if m.kube.kubeconfig != "" {
		return false, nil
	}
	_, ok, err := m.api.resolve()
	return ok, err
}

// appKey splits APP (NAME or NAMESPACE/NAME) for the API: the namespace is
// -n, else the one in APP, else the context's, else "default".
func (m *modeFlags) appKey(arg string, contextNamespace string) (namespace, name string, err error) {
	if strings.Count(arg, "/") > 1 || strings.HasPrefix(arg, "/") || strings.HasSuffix(arg, "/") || arg == "" {
		return "", "", fmt.Errorf("application %q: want NAME or NAMESPACE/NAME", arg)
	}
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		return ns, name, nil
	}
	return firstOf(m.kube.namespace, contextNamespace, "default"), arg, nil
}
