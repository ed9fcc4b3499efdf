package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"
)

// Config is the CLI's file of API contexts: which servers it knows, with the
// credential of each, and which one is in use. It holds tokens, so it is
// written readable by its owner only.
type Config struct {
	CurrentContext string          `json:"currentContext,omitempty"`
	Contexts       []ServerContext `json:"contexts,omitempty"`
}

// ServerContext is one API and the credential to use with it.
type ServerContext struct {
	Name   string `json:"name"`
	Server string `json:"server"`
	// User is who the credential belongs to, for display.
	User string `json:"user,omitempty"`
	// Token is a session or API token.
	Token string `json:"token,omitempty"`
	// Namespace is where Applications named without one are looked for.
	Namespace string `json:"namespace,omitempty"`
	// CertificateAuthority is the PEM of the CA that signed the server's
	// certificate, kept in the file so it works from any directory.
	CertificateAuthority  string `json:"certificateAuthority,omitempty"`
	InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify,omitempty"`
}

// ConfigPath is where the CLI keeps its contexts: $LOCKSTEP_CONFIG, else
// lockstep/config.yaml in the user's configuration directory.
func ConfigPath() (string, error) {
	if p := os.Getenv("LOCKSTEP_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the configuration directory: %w (set $LOCKSTEP_CONFIG)", err)
	}
	return filepath.Join(dir, "lockstep", "config.yaml"), nil
}

// maxConfigSize bounds what is read as the configuration file.
const maxConfigSize = 1 << 20

// LoadConfig reads the configuration; a missing file is an empty one.
func LoadConfig() (*Config, string, error) {
	path, err := ConfigPath()
	if err != nil {
		return nil, "", err
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if len(raw) > maxConfigSize {
		return nil, path, fmt.Errorf("%s is larger than %d bytes: not a Lockstep configuration", path, maxConfigSize)
	}
	c := &Config{}
	if err := yaml.UnmarshalStrict(raw, c); err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return c, path, nil
}

// Save writes the configuration to path, readable by its owner only, through
// a temporary file so a crash leaves the old one whole.
func (c *Config) Save(path string) error {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Context returns the named context, or the current one when name is "".
func (c *Config) Context(name string) (*ServerContext, error) {
	if name == "" {
		name = c.CurrentContext
	}
	if name == "" {
		return nil, nil
	}
	i := slices.IndexFunc(c.Contexts, func(x ServerContext) bool { return x.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("no context %q in the configuration (lockstep context lists them)", name)
	}
	return &c.Contexts[i], nil
}

// Put adds or replaces a context and makes it current.
func (c *Config) Put(sc ServerContext) {
	i := slices.IndexFunc(c.Contexts, func(x ServerContext) bool { return x.Name == sc.Name })
	if i < 0 {
		c.Contexts = append(c.Contexts, sc)
	} else {
		c.Contexts[i] = sc
	}
	c.CurrentContext = sc.Name
}
