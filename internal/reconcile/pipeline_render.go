package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/render"
)

// decryptionKeyTTL is how long age keys read from a Secret are reused.
const decryptionKeyTTL = 30 * time.Second

// ageKeySuffix marks the entries of a decryption Secret that hold age keys.
const ageKeySuffix = ".agekey"

// renderOptions are the render stage's inputs from the Application's spec, with
// the Helm values and decryption keys it names read from the cluster: values as
// the Application's identity (user), keys as the controller.
//
// The values read from Secrets are returned too, to be hidden from messages.
func (pl *Pipeline) renderOptions(ctx context.Context, app *v1.Application, user string) (render.Options, []string, error) {
	opts := render.Options{Namespace: app.Spec.Destination.Namespace, Substitute: app.Spec.Source.Substitute}
	opts.Helm.KubeVersion = pl.kubeVersion
	opts.Helm.ReleaseName = app.Name
	if h := app.Spec.Source.Helm; h != nil {
		opts.Helm.ReleaseName = cmp.Or(h.ReleaseName, app.Name)
		opts.Helm.ValuesFiles = h.ValuesFiles
	}
	if j := app.Spec.Source.Jsonnet; j != nil {
		opts.Jsonnet = render.JsonnetOptions{TLAs: j.TLAs, ExtVars: j.ExtVars}
	}
	var err error
	var secrets []string
	if opts.Helm.Values, secrets, err = pl.helmValues(ctx, app, user); err != nil {
		return opts, secrets, err
	}
	opts.AgeIdentities, err = pl.ageIdentities(ctx, app, user)
	return opts, secrets, err
}

// helmValues gathers the Helm values that do not live in the chart folder: each
// valuesFrom ConfigMap or Secret of the destination namespace, in order, then the
// inline values. They are read as the Application's identity, so its service
// account must be allowed to get them: the controller does not read a
// namespace's Secrets on a team's behalf. Errors name the object and key; a
// value is never quoted.
func (pl *Pipeline) helmValues(ctx context.Context, app *v1.Application, user string) (out []map[string]any, secrets []string, err error) {
	h := app.Spec.Source.Helm
	if h == nil {
		return nil, nil, nil
	}
	ns := app.Spec.Destination.Namespace
	for _, ref := range h.ValuesFrom {
		key := cmp.Or(ref.Key, "values.yaml")
		what := fmt.Sprintf("%s %s/%s key %q", ref.Kind, ns, ref.Name, key)
		if ref.Kind != "ConfigMap" && ref.Kind != "Secret" {
			return nil, secrets, fmt.Errorf("helm.valuesFrom: kind %q is neither ConfigMap nor Secret", ref.Kind)
		}
		data, err := pl.readAs(ctx, user, ref.Kind, ns, ref.Name)
		if apierrors.IsNotFound(err) && ref.Optional {
			continue
		}
		if err != nil {
			return nil, secrets, fmt.Errorf("helm.valuesFrom: reading %s: %w", what, err)
		}
		raw, found := data[key]
		if !found {
			if ref.Optional {
				continue
			}
			return nil, secrets, fmt.Errorf("helm.valuesFrom: %s not found (set optional: true if it may be missing)", what)
		}
		values := map[string]any{}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			return nil, secrets, fmt.Errorf("helm.valuesFrom: %s is not a YAML map of values", what)
		}
		if ref.Kind == "Secret" {
			secrets = append(secrets, audit.LeafStrings(values)...)
		}
		out = append(out, values)
	}
	if h.Values != nil && len(h.Values.Raw) > 0 {
		values := map[string]any{}
		if err := json.Unmarshal(h.Values.Raw, &values); err != nil {
			return nil, secrets, fmt.Errorf("helm.values: not a map of values: %w", err)
		}
		out = append(out, values)
	}
	return out, secrets, nil
}

// ErrNoServiceAccount is wrapped when an Application without a service account
// names a Secret and the controller does not read for such Applications.
var ErrNoServiceAccount = errors.New("it is read as the Application's service account, and the Application has none: name one (spec.destination.serviceAccountName, the Project's serviceAccountName or the controller's --default-service-account), or run the controller with --tenant-reads-as-controller (a single team's cluster)")

// readAs reads a Secret or ConfigMap an Application names, as user, its
// identity; "" (no service account) only where the controller reads for such
// Applications.
func (pl *Pipeline) readAs(ctx context.Context, user, kind, namespace, name string) (map[string][]byte, error) {
	if user == "" && !pl.tenantReads {
		return nil, fmt.Errorf("%s %s/%s: %w", cmp.Or(kind, "Secret"), namespace, name, ErrNoServiceAccount)
	}
	return pl.read(ctx, user, kind, namespace, name)
}

// read reads a Secret or ConfigMap as user ("" the controller).
func (pl *Pipeline) read(ctx context.Context, user, kind, namespace, name string) (map[string][]byte, error) {
	clients, err := pl.clients.As(user)
	if err != nil {
		return nil, err
	}
	r, err := clients.Reader()
	if err != nil {
		return nil, err
	}
	return kube.ReadData(ctx, r, kind, namespace, name)
}

// ageIdentities reads the age keys of spec.source.decryption ("" when none is
// configured), as user, the Application's identity: an Application decrypts
// only with keys its service account may read. The keys go to the render
// stage only; errors name the Secret and its entries, never a value.
func (pl *Pipeline) ageIdentities(ctx context.Context, app *v1.Application, user string) (string, error) {
	d := app.Spec.Source.Decryption
	if d == nil {
		return "", nil
	}
	return pl.decryptKeys.get("as="+user+";"+app.Namespace+"/"+d.SecretRef.Name, pl.now(), decryptionKeyTTL, func() (string, error) {
		data, err := pl.readAs(ctx, user, "Secret", app.Namespace, d.SecretRef.Name)
		if err != nil {
			return "", fmt.Errorf("spec.source.decryption.secretRef: %w", err)
		}
		var names []string
		for k := range data {
			if strings.HasSuffix(k, ageKeySuffix) {
				names = append(names, k)
			}
		}
		if len(names) == 0 {
			return "", fmt.Errorf("the decryption Secret %s/%s has no entry ending in %s (an age identity, AGE-SECRET-KEY-1...)", app.Namespace, d.SecretRef.Name, ageKeySuffix)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, k := range names {
			b.Write(data[k])
			b.WriteByte('\n')
		}
		return b.String(), nil
	})
}

func policyObjects(res *render.Result) []policy.Object {
	out := make([]policy.Object, len(res.Objects))
	for i, o := range res.Objects {
		out[i] = policy.Object{Unstructured: o, File: res.Origins[i].File, Encrypted: res.Origins[i].Encrypted}
	}
	return out
}

func clusterOf(app *v1.Application) string {
	return cmp.Or(app.Spec.Destination.Cluster, v1.InCluster)
}
