package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/internal/gitwrite"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// Secrets bootstrap writes (never to Git) for the self-managing
// Application to read its repository with.
const (
	bootstrapGitSecret = "lockstep-git"
	bootstrapCASecret  = "lockstep-git-ca"
)

type bootstrapFlags struct {
	repo, branch, dir, author          string
	username, passwordFile             string
	sshKeyFile, knownHostsFile, caFile string
	dryRun, replace                    bool
}

func newBootstrapCommand() *cobra.Command {
	var (
		in installFlags
		b  bootstrapFlags
	)
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Commit the install to Git and make Lockstep keep itself in sync with it: upgrades become commits",
		Long: `Bootstrap commits the install (what lockstep install applies) to a folder of a Git
repository, installs it, and creates the Application lockstep that keeps the cluster in sync
with that folder, with its own Project and service account. From then on, upgrading or
reconfiguring Lockstep is a reviewed commit to the folder, like any other change.

The folder gets: install.yaml (lockstep install --dry-run), self.yaml (the Application, its
Project, and the service account it applies as), kustomization.yaml and a README. The
repository's credentials go into the Secrets lockstep-git and lockstep-git-ca in the
install's namespace, never into Git. Running bootstrap again with the same options commits
nothing and applies the same objects. It never force-pushes. The CRDs, the namespace, the
data volume, the Application and its Project are never pruned, so a commit that drops
them cannot make Lockstep delete itself.`,
		Example: `  LOCKSTEP_GIT_PASSWORD=... lockstep bootstrap --repo https://git.internal/platform/clusters.git --path prod/lockstep \
      --git-username lockstep --git-ca-file internal-ca.crt --image registry.internal/lockstep@sha256:... --egress 10.20.0.5
  lockstep bootstrap --repo ssh://git@git.internal/platform/clusters.git --path prod/lockstep \
      --git-ssh-key ~/.ssh/lockstep --git-known-hosts known_hosts --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrap(cmd, &in, b)
		},
	}
	in.add(cmd)
	f := cmd.Flags()
	f.StringVar(&b.repo, "repo", "", "the repository to commit the install to, https:// or ssh:// (required)")
	f.StringVar(&b.dir, "path", "", "the folder in the repository, for example clusters/prod/lockstep (required; its other files are removed)")
	f.StringVar(&b.branch, "branch", "main", "the branch to commit to and follow")
	f.StringVar(&b.author, "author", "", `the commit's author, "Name <email>" (default: git config user.name and user.email)`)
	f.StringVar(&b.username, "git-username", "", "HTTPS user name (the password from $LOCKSTEP_GIT_PASSWORD or --git-password-file)")
	f.StringVar(&b.passwordFile, "git-password-file", "", "file holding the HTTPS password or token")
	f.StringVar(&b.sshKeyFile, "git-ssh-key", "", "SSH private key file, for an ssh:// repository")
	f.StringVar(&b.knownHostsFile, "git-known-hosts", "", "known_hosts file with the SSH server's key (required with --git-ssh-key)")
	f.StringVar(&b.caFile, "git-ca-file", "", "CA bundle (PEM) the HTTPS server's certificate is checked against")
	f.BoolVar(&b.dryRun, "dry-run", false, "print the folder's files; commit and apply nothing")
	f.BoolVar(&b.replace, "replace", false, "remove the folder's other files (without it, a folder holding files bootstrap did not write is refused)")
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("path")
	return cmd
}

func runBootstrap(cmd *cobra.Command, in *installFlags, b bootstrapFlags) error {
	u, err := url.Parse(b.repo)
	if err != nil || (u.Scheme != "https" && u.Scheme != "ssh") || u.Host == "" {
		return &UsageError{fmt.Errorf("--repo: want an https:// or ssh:// URL")}
	}
	// The URL is committed, shown and recorded: never a password in it (nor
	// a token in a query, nor one hidden in an escaped user name).
	_, hasPassword := u.User.Password()
	if hasPassword || u.Scheme == "https" && u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.User.Username(), ":") {
		return &UsageError{errors.New("--repo holds credentials: give the URL without them, the user with --git-username and the password or token in $LOCKSTEP_GIT_PASSWORD or --git-password-file")}
	}
	dir := path.Clean(strings.Trim(b.dir, "/"))
	if dir == "." || strings.HasPrefix(dir, "..") {
		return &UsageError{fmt.Errorf("--path %q: want a folder inside the repository, not its root", b.dir)}
	}
	auth, err := b.credentials()
	if err != nil {
		return err
	}
	c, install, err := renderInstall(cmd, in, b.dryRun)
	if err != nil {
		return err
	}
	ns := in.opts.Namespace
	self, err := config.SelfManagement(config.SelfOptions{
		Namespace: ns, URL: b.repo, Branch: b.branch, Path: dir,
		GitSecret: ifAny(auth.Username+auth.Password+string(auth.SSHPrivateKey), bootstrapGitSecret),
		CASecret:  ifAny(string(auth.CABundle), bootstrapCASecret),
	})
	if err != nil {
		return err
	}
	files, err := bootstrapFiles(install, self, b.repo, dir, in.command())
	if err != nil {
		return err
	}
	if b.dryRun {
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(cmd.OutOrStdout(), "# %s\n%s\n", path.Join(dir, n), files[n])
		}
		return nil
	}
	name, email, err := authorOf(b.author)
	if err != nil {
		return err
	}
	out := cmd.ErrOrStderr()
	// Refused upgrades are refused before the commit, not after it.
	if err := checkUpgrade(cmd.Context(), c, install); err != nil {
		return fmt.Errorf("nothing was committed, installed or changed: %w", err)
	}
	var owned []string
	if !b.replace {
		for n := range files {
			owned = append(owned, n)
		}
	}
	res, err := gitwrite.Commit(cmd.Context(), gitwrite.Change{
		URL: b.repo, Auth: auth, Branch: b.branch, Dir: dir, Files: files, Only: owned, Name: name, Email: email,
		Message: "Lockstep manages itself from " + dir + "\n\nWritten by lockstep bootstrap: the install (install.yaml) and the Application\nthat keeps it in sync (self.yaml). Upgrade Lockstep by changing install.yaml.\n",
	})
	if err != nil {
		return err
	}
	if res.Changed {
		fmt.Fprintf(out, "committed %s to %s %s: %s\n", dir, b.repo, b.branch, res.Commit)
	} else {
		fmt.Fprintf(out, "%s on %s %s already holds this install (%s): nothing committed\n", dir, b.repo, b.branch, res.Commit)
	}
	if err := applyInstall(cmd.Context(), c, install, out); err != nil {
		return err
	}
	secrets, err := bootstrapSecrets(ns, auth)
	if err != nil {
		return err
	}
	if err := applyInstall(cmd.Context(), c, append(secrets, self...), out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), `Lockstep now keeps %s in sync with %s (branch %s, folder %s).
Upgrade or reconfigure it with a commit there: the same options, a new image,
  %s > %s/install.yaml
Watch it: lockstep get app %s -n %s
`, ns, b.repo, b.branch, dir, withImage(in.command()), dir, config.SelfName, ns)
	return nil
}

// credentials reads the repository's credentials from the files named.
func (b bootstrapFlags) credentials() (source.Auth, error) {
	var a source.Auth
	var err error
	read := func(file string) []byte {
		if file == "" || err != nil {
			return nil
		}
		var data []byte
		data, err = os.ReadFile(file)
		return data
	}
	a.Username = b.username
	a.Password = os.Getenv("LOCKSTEP_GIT_PASSWORD")
	if b.passwordFile != "" {
		a.Password = strings.TrimRight(string(read(b.passwordFile)), "\r\n")
	}
	a.SSHPrivateKey, a.KnownHosts, a.CABundle = read(b.sshKeyFile), read(b.knownHostsFile), read(b.caFile)
	if err != nil {
		return a, err
	}
	if strings.HasPrefix(b.repo, "ssh://") && (len(a.SSHPrivateKey) == 0 || len(a.KnownHosts) == 0) {
		return a, &UsageError{errors.New("an ssh:// repository needs --git-ssh-key and --git-known-hosts (host keys are never accepted blindly)")}
	}
	return a, nil
}

// bootstrapFiles are the folder's files.
func bootstrapFiles(install, self []*unstructured.Unstructured, repo, dir, command string) (map[string][]byte, error) {
	var installYAML, selfYAML bytes.Buffer
	if err := printYAML(&installYAML, install); err != nil {
		return nil, err
	}
	if err := printYAML(&selfYAML, self); err != nil {
		return nil, err
	}
	return map[string][]byte{
		"install.yaml":       append([]byte("# "+command+"\n# Write the new version's output over this file to upgrade or reconfigure Lockstep.\n"), installYAML.Bytes()...),
		"self.yaml":          append([]byte("# What keeps the install in sync with this folder (lockstep bootstrap).\n"), selfYAML.Bytes()...),
		"kustomization.yaml": []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- install.yaml\n- self.yaml\n"),
		"README.md": []byte("# Lockstep, managing itself\n\n" +
			"Lockstep keeps this cluster's install of itself in sync with this folder (" + repo + ", " + dir + ").\n" +
			"Change it like any other folder: by a reviewed commit.\n\n" +
			"- `install.yaml` is what this command prints, with this cluster's options:\n\n" +
			"      " + command + "\n\n" +
			"  To upgrade, run the new version's `lockstep install` with the same options and a new `--image`,\n" +
			"  write its output over `install.yaml` and commit. To roll back, revert that commit. Keep the\n" +
			"  `--egress` and `--api-server` addresses: without them the controller reaches neither Git nor\n" +
			"  the API server, and nothing in Git can undo that.\n" +
			"- `self.yaml` is the Application `lockstep`, its Project and the service account it applies as.\n" +
			"  That account may create and change the cluster's RBAC: whoever may push here is a cluster\n" +
			"  administrator. Protect this branch as such (required reviews; signed commits, with a\n" +
			"  `verification` in the Project).\n\n" +
			"The CRDs, the namespace, the data volume, the Application and its Project are annotated\n" +
			"`lockstep.dev/prune: disabled`: removing them here leaves them in the cluster.\n"),
	}, nil
}

// bootstrapSecrets hold the repository's credentials and CA bundle.
func bootstrapSecrets(ns string, a source.Auth) ([]*unstructured.Unstructured, error) {
	var secrets []*corev1.Secret
	creds := map[string][]byte{}
	for k, v := range map[string][]byte{"username": []byte(a.Username), "password": []byte(a.Password), "identity": a.SSHPrivateKey, "known_hosts": a.KnownHosts} {
		if len(v) > 0 {
			creds[k] = v
		}
	}
	if len(creds) > 0 {
		secrets = append(secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bootstrapGitSecret, Namespace: ns}, Data: creds})
	}
	if len(a.CABundle) > 0 {
		secrets = append(secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bootstrapCASecret, Namespace: ns}, Data: map[string][]byte{"ca.crt": a.CABundle}})
	}
	var out []*unstructured.Unstructured
	for _, s := range secrets {
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		out = append(out, u)
	}
	return out, nil
}

// authorOf is --author, or git's configured user.
func authorOf(flag string) (string, string, error) {
	if flag != "" {
		a, err := mail.ParseAddress(flag)
		if err != nil || a.Name == "" {
			return "", "", &UsageError{fmt.Errorf(`--author %q: want "Name <email>"`, flag)}
		}
		return a.Name, a.Address, nil
	}
	if cfg, err := gitconfig.LoadConfig(gitconfig.GlobalScope); err == nil && cfg.User.Name != "" && cfg.User.Email != "" {
		return cfg.User.Name, cfg.User.Email, nil
	}
	return "", "", &UsageError{errors.New(`say who commits: --author "Name <email>" (or git config --global user.name and user.email)`)}
}

// withImage is an install command line with a placeholder for the new image.
func withImage(command string) string {
	if i := strings.Index(command, " --image "); i >= 0 {
		rest := command[i+len(" --image "):]
		if j := strings.Index(rest, " "); j >= 0 {
			return command[:i] + " --image REGISTRY/lockstep@sha256:NEW" + rest[j:]
		}
		return command[:i] + " --image REGISTRY/lockstep@sha256:NEW"
	}
	return command + " --image REGISTRY/lockstep@sha256:NEW"
}

func ifAny(value, name string) string {
	if value == "" {
		return ""
	}
	return name
}
