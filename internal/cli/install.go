package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/config"
)

// installFieldManager owns what lockstep install applies, so that a second
// install (an upgrade) takes over and prunes its own fields only.
const installFieldManager = "lockstep-install"

func newInstallCommand() *cobra.Command {
	var (
		kube   kubeFlags
		opts   config.InstallOptions
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Lockstep in a cluster (CRDs, RBAC, controller, strict default Project), or print it",
		Long: `Install renders config/install (the manifests this binary carries) for a namespace and an
image, and applies them with server-side apply, in order: the namespace and the CRDs first,
the default Project last. Run it again to upgrade. With --dry-run it prints the YAML instead:
review it, commit it, or apply it with kubectl apply --server-side -f -.

The controller's Pods need a Secret lockstep-api-tls (kubernetes.io/tls) in the namespace
for the API and UI, and the NetworkPolicy's placeholder addresses replaced with your API
server's, Git servers' and registry's (an overlay of config/install).`,
		Example: `  lockstep install --image registry.internal/lockstep@sha256:... --dry-run > lockstep.yaml
  lockstep install --image registry.internal/lockstep@sha256:... --namespace platform-cd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, err := config.Install(opts)
			if err != nil {
				return err
			}
			if dryRun {
				return printYAML(cmd.OutOrStdout(), objs)
			}
			c, _, _, err := kube.client()
			if err != nil {
				return err
			}
			return applyInstall(cmd.Context(), c, objs, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&kube.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&opts.Namespace, "namespace", config.DefaultNamespace, "namespace the controller runs in")
	f.StringVar(&opts.Image, "image", "", "the controller's image, pinned by digest (registry/lockstep@sha256:...) or tagged; default: the base's")
	f.BoolVar(&dryRun, "dry-run", false, "print the YAML instead of applying it")
	return cmd
}

// printYAML writes objs as one YAML stream.
func printYAML(out io.Writer, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(out, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

// applyInstall applies objs in order, saying what it does; an object whose
// kind is not served yet (a Project right after its CRD) is retried until
// the CRD is established.
func applyInstall(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, progress io.Writer) error {
	for _, o := range objs {
		what := o.GetKind() + "/" + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			what = o.GetKind() + "/" + ns + "/" + o.GetName()
		}
		deadline := time.Now().Add(time.Minute)
		for {
			err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner(installFieldManager), client.ForceOwnership)
			if err == nil {
				fmt.Fprintf(progress, "applied %s\n", what)
				break
			}
			if !meta.IsNoMatchError(err) || time.Now().After(deadline) {
				return fmt.Errorf("applying %s: %w", what, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}
