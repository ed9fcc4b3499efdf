package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func newBuildCommand() *cobra.Command {
	var (
		opts        render.Options
		substitute  []string
		ageKeyFile  string
		showSecrets bool
		renders     = sandbox.DefaultOptions()
	)
	cmd := &cobra.Command{
		Use:   "build PATH",
		Short: "Render a local folder exactly as the controller would, and print the objects",
		Long: `Renders PATH (plain YAML, Kustomize, Helm or Jsonnet, chosen by what it holds) with
the controller's own renderer, sandbox and limits, and prints the objects as YAML. The enclosing
Git working tree is the repository root, so overlays may use ../base as in the cluster;
nothing outside it is read.

SOPS-encrypted files are decrypted with the age identities in --age-key-file (by
default $SOPS_AGE_KEY_FILE, as sops itself reads). Secrets' values print as ***
unless --show-secrets is given, so the output is safe to paste or log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, dir, err := repositoryRoot(args[0])
			if err != nil {
				return err
			}
			opts.Substitute = map[string]string{}
			for _, kv := range substitute {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--substitute %q: want NAME=VALUE", kv)
				}
				opts.Substitute[k] = v
			}
			if ageKeyFile != "" {
				keys, err := os.ReadFile(ageKeyFile)
				if err != nil {
					return fmt.Errorf("--age-key-file: %w", err)
				}
				opts.AgeIdentities = string(keys)
			}
			if opts.Helm.ReleaseName == "" {
				opts.Helm.ReleaseName = filepath.Base(filepath.Join(root, dir))
			}
			// os.Root refuses paths (and links) that leave the working tree.
			repo, err := os.OpenRoot(root)
			if err != nil {
				return err
			}
			defer repo.Close()
			renderFn, closeRenders, err := controller.Renderer(renders)
			if err != nil {
				return err
			}
			defer closeRenders()
			res, err := renderFn(cmd.Context(), repo.FS(), dir, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, o := range res.Objects {
				if !showSecrets {
					o, _ = pass.MaskSecrets(o, o) // the same on both sides: every value reads ***
				}
				data, err := yaml.Marshal(o.Object)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(out, "---")
				}
				if _, err := out.Write(data); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "# %s: %d objects\n", res.Renderer, len(res.Objects))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "default", "destination namespace (Helm's release namespace)")
	f.StringArrayVar(&substitute, "substitute", nil, "NAME=VALUE for ${NAME} substitution (repeatable)")
	f.StringVar(&opts.Helm.ReleaseName, "release-name", "", "Helm release name (default: the folder's name)")
	f.StringArrayVar(&opts.Helm.ValuesFiles, "values", nil, "Helm values file, relative to the chart (repeatable)")
	f.StringVar(&opts.Helm.KubeVersion, "kube-version", "v1.34.3", "Kubernetes version Helm charts see")
	f.StringVar(&ageKeyFile, "age-key-file", os.Getenv("SOPS_AGE_KEY_FILE"), "file of age identities (AGE-SECRET-KEY-1...) that decrypt SOPS-encrypted files")
	f.BoolVar(&showSecrets, "show-secrets", false, "print Secrets' values (decrypted ones included) instead of ***")
	addRenderFlags(f, &renders)
	return cmd
}

// repositoryRoot finds the Git working tree that holds path and returns it with
// path relative to it; without one, path itself is the root.
func repositoryRoot(path string) (root, dir string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	if fi, err := os.Stat(abs); err != nil {
		return "", "", err
	} else if !fi.IsDir() {
		return "", "", errors.New(path + " is not a folder")
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			rel, err := filepath.Rel(d, abs)
			return d, filepath.ToSlash(rel), err
		}
		if filepath.Dir(d) == d {
			return abs, ".", nil
		}
	}
}
