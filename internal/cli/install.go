package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
		in     installFlags
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Lockstep in a cluster (CRDs, RBAC, controller, strict default Project), or print it",
		Long: `Install renders config/install (the manifests this binary carries) for a namespace and an
image, and applies them with server-side apply, in order: the namespace first, the CRDs before
the default Project, which comes last. Run it again to upgrade: it first checks that the cluster's CRDs
store no object at a version this install no longer serves, and otherwise refuses, changing
nothing, and says how to migrate. With --dry-run it prints the YAML instead:
review it, commit it, or apply it with kubectl apply --server-side -f -.

The controller's Pods need a Secret lockstep-api-tls (kubernetes.io/tls) in the namespace
for the API and UI. The NetworkPolicy lets the controller reach DNS, the API server (its
addresses read from the cluster, or --api-server) and the Git servers and registries you
name with --egress, nothing else.`,
		Example: `  lockstep install --image registry.internal/lockstep@sha256:... --egress 10.20.0.0/24 --api-server 10.96.0.1 --dry-run > lockstep.yaml
  lockstep install --image registry.internal/lockstep@sha256:... --egress 10.20.0.5,10.20.0.6 --namespace platform-cd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, objs, err := renderInstall(cmd, &in, dryRun)
			if err != nil {
				return err
			}
			if dryRun {
				return printYAML(cmd.OutOrStdout(), objs)
			}
			return applyInstall(cmd.Context(), c, objs, cmd.ErrOrStderr())
		},
	}
	in.add(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the YAML instead of applying it")
	return cmd
}

// installFlags say what to install and where (install and bootstrap).
type installFlags struct {
	kube              kubeFlags
	opts              config.InstallOptions
	allowPlaceholders bool
}

func (in *installFlags) add(cmd *cobra.Command) {
	kube, opts, f := &in.kube, &in.opts, cmd.Flags()
	kube.clusterOnly = true
	f.StringVar(&kube.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&opts.Namespace, "namespace", config.DefaultNamespace, "namespace the controller runs in")
	f.StringVar(&opts.Image, "image", "", "the controller's image, pinned by digest (registry/lockstep@sha256:...) or tagged; default: the base's")
	f.Int32Var(&opts.Replicas, "replicas", 2, "controller replicas (one leader, the others stand by); 1: a ReadWriteOnce volume and no PodDisruptionBudget")
	f.StringVar(&opts.StorageClass, "storage-class", "", "storage class of the data volume (default: the cluster's); 2 or more replicas need one offering ReadWriteMany")
	f.StringSliceVar(&opts.Egress, "egress", nil, "addresses (IP or CIDR, repeatable) of the Git servers and registries the controller may reach")
	f.Int32SliceVar(&opts.EgressPorts, "egress-ports", []int32{443, 22}, "TCP ports of those Git servers and registries")
	f.StringSliceVar(&opts.APIServer, "api-server", nil, "the Kubernetes API server's addresses (IP or CIDR) the controller may reach; default: read from the cluster's kubernetes Service endpoints")
	f.Int32SliceVar(&opts.APIServerPorts, "api-server-ports", nil, "the API server's ports (default: read from the cluster with its addresses, else 443 and 6443)")
	f.BoolVar(&in.allowPlaceholders, "allow-placeholders", false, "render or apply the NetworkPolicy with its placeholder addresses (the controller then reaches no Git server, registry or API server where the policy is enforced)")
}

// command is the lockstep install command line that renders in's install:
// what to run again, with --dry-run, to change it in Git.
func (in installFlags) command() string {
	args := []string{"lockstep install --dry-run"}
	if in.opts.Namespace != "" && in.opts.Namespace != config.DefaultNamespace {
		args = append(args, "--namespace "+in.opts.Namespace)
	}
	if in.opts.Image != "" {
		args = append(args, "--image "+in.opts.Image)
	}
	if in.opts.Replicas != 0 && in.opts.Replicas != 2 {
		args = append(args, fmt.Sprintf("--replicas %d", in.opts.Replicas))
	}
	if in.opts.StorageClass != "" {
		args = append(args, "--storage-class "+in.opts.StorageClass)
	}
	if len(in.opts.Egress) > 0 {
		args = append(args, "--egress "+strings.Join(in.opts.Egress, ","))
	}
	if len(in.opts.EgressPorts) > 0 {
		args = append(args, "--egress-ports "+joinPorts(in.opts.EgressPorts))
	}
	if len(in.opts.APIServer) > 0 {
		args = append(args, "--api-server "+strings.Join(in.opts.APIServer, ","))
		if len(in.opts.APIServerPorts) > 0 {
			args = append(args, "--api-server-ports "+joinPorts(in.opts.APIServerPorts))
		}
	}
	if in.allowPlaceholders {
		args = append(args, "--allow-placeholders")
	}
	return strings.Join(args, " ")
}

func joinPorts(ports []int32) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// renderInstall renders the install for opts; unless dryRun, with a client
// of the cluster and the API server's addresses read from it when not
// given. It warns about the NetworkPolicy's placeholders left.
func renderInstall(cmd *cobra.Command, in *installFlags, dryRun bool) (client.Client, []*unstructured.Unstructured, error) {
	var c client.Client
	if !dryRun {
		var err error
		if c, _, _, err = in.kube.client(); err != nil {
			return nil, nil, err
		}
		if len(in.opts.APIServer) == 0 {
			if in.opts.APIServer, in.opts.APIServerPorts, err = apiServerEndpoints(cmd.Context(), c); err != nil {
				return nil, nil, err
			}
		}
	}
	objs, err := config.Install(in.opts)
	if err != nil {
		return nil, nil, &UsageError{err}
	}
	// A policy with placeholders cuts the controller off from Git and the
	// API server: once applied by Lockstep itself, nothing in Git can undo it.
	// Whether they are left is what was given, not the addresses (a real
	// API server may well be at 10.0.0.1).
	var missing []string
	if len(in.opts.Egress) == 0 {
		missing = append(missing, "your Git servers' and registries' addresses with --egress")
	}
	if len(in.opts.APIServer) == 0 {
		missing = append(missing, "the API server's with --api-server")
	}
	if len(missing) > 0 {
		msg := "the NetworkPolicy would let the controller reach only placeholder addresses: give " + strings.Join(missing, " and ")
		if !in.allowPlaceholders {
			return nil, nil, &UsageError{errors.New(msg + " (or --allow-placeholders, to review the YAML)")}
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+msg)
	}
	if in.opts.Image != "" && !strings.Contains(in.opts.Image, "@") {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: --image %s is not pinned by digest: what a tag names can change (lockstep bundle push prints the digest)\n", in.opts.Image)
	}
	for _, e := range in.opts.Egress {
		if strings.HasSuffix(e, "/0") {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: --egress %s lets the controller reach every address\n", e)
		}
	}
	return c, objs, nil
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

// apiServerEndpoints are the addresses and ports behind the cluster's
// kubernetes Service, which the NetworkPolicy must let the controller reach
// (policies see the endpoint after the Service's address is translated).
func apiServerEndpoints(ctx context.Context, c client.Client) ([]string, []int32, error) {
	var list discoveryv1.EndpointSliceList
	if err := c.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{discoveryv1.LabelServiceName: "kubernetes"}); err != nil {
		return nil, nil, fmt.Errorf("reading the API server's addresses (or give --api-server): %w", err)
	}
	var addrs []string
	var ports []int32
	seen := map[string]bool{}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if !seen[a] {
					seen[a] = true
					addrs = append(addrs, a)
				}
			}
		}
		for _, p := range s.Ports {
			if p.Port != nil && !slices.Contains(ports, *p.Port) {
				ports = append(ports, *p.Port)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, nil, errors.New("the kubernetes Service has no endpoints: give the API server's addresses with --api-server")
	}
	return addrs, ports, nil
}

// checkUpgrade reads the live copies of the install's CRDs and refuses the
// install (config.CheckStoredVersions) if one of them may store objects at
// a version the install would no longer serve. It changes nothing.
func checkUpgrade(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	var live []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		l := &unstructured.Unstructured{}
		l.SetGroupVersionKind(o.GroupVersionKind())
		err := c.Get(ctx, client.ObjectKey{Name: o.GetName()}, l)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading CustomResourceDefinition %s: %w", o.GetName(), err)
		}
		live = append(live, l)
	}
	if err := config.CheckStoredVersions(live, objs); err != nil {
		return err
	}
	return checkVolume(ctx, c, objs)
}

// checkVolume refuses a data volume whose access modes or storage class
// would change: a claim's cannot, and it holds the ledger.
func checkVolume(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		if o.GetKind() != "PersistentVolumeClaim" {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		err := c.Get(ctx, client.ObjectKeyFromObject(o), live)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading PersistentVolumeClaim %s/%s: %w", o.GetNamespace(), o.GetName(), err)
		}
		wantModes, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "accessModes")
		haveModes, _, _ := unstructured.NestedStringSlice(live.Object, "spec", "accessModes")
		wantClass, _, _ := unstructured.NestedString(o.Object, "spec", "storageClassName")
		haveClass, _, _ := unstructured.NestedString(live.Object, "spec", "storageClassName")
		if !slices.Equal(wantModes, haveModes) || wantClass != "" && wantClass != haveClass {
			return fmt.Errorf("PersistentVolumeClaim %s/%s exists with access modes %v and storage class %q, and a claim's cannot change: "+
				"keep the --replicas and --storage-class it was installed with, or move the ledger (ledger.db) off it and delete the claim first",
				o.GetNamespace(), o.GetName(), haveModes, haveClass)
		}
	}
	return nil
}

// removeDisruptionBudget deletes the install's PodDisruptionBudget when the
// install has none (one replica): left from two replicas, it would block
// every drain.
func removeDisruptionBudget(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, progress io.Writer) error {
	ns := ""
	for _, o := range objs {
		switch o.GetKind() {
		case "PodDisruptionBudget":
			return nil
		case "Deployment":
			ns = o.GetNamespace()
		}
	}
	if ns == "" {
		return nil
	}
	pdb := &unstructured.Unstructured{}
	pdb.SetAPIVersion("policy/v1")
	pdb.SetKind("PodDisruptionBudget")
	pdb.SetNamespace(ns)
	pdb.SetName("lockstep-controller")
	if err := c.Get(ctx, client.ObjectKeyFromObject(pdb), pdb); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	for _, m := range pdb.GetManagedFields() {
		if m.Manager == installFieldManager {
			if err := c.Delete(ctx, pdb); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting the PodDisruptionBudget of two replicas: %w", err)
			}
			fmt.Fprintf(progress, "deleted PodDisruptionBudget/%s/lockstep-controller (one replica)\n", ns)
			return nil
		}
	}
	return nil
}

// applyInstall applies objs in order, saying what it does; an object whose
// kind is not served yet (a Project right after its CRD) is retried until
// the CRD is established. It first checks the CRDs' stored versions
// (checkUpgrade) and, refused, applies nothing.
func applyInstall(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, progress io.Writer) error {
	if err := checkUpgrade(ctx, c, objs); err != nil {
		return fmt.Errorf("nothing was installed or changed: %w", err)
	}
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
	return removeDisruptionBudget(ctx, c, objs, progress)
}
