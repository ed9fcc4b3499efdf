package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// certificateCRD is cert-manager's Certificate, cut to what the API server
// needs to serve it with a status subresource.
const certificateCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// installCertificateCRD serves cert-manager's Certificate on the cluster.
func installCertificateCRD(t *testing.T, f *repoFixture) {
	t.Helper()
	ctx := testenv.Context(t)
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(certificateCRD), &crd.Object); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the Certificate CRD is served", func(ctx context.Context) (bool, error) {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("cert-manager.io/v1")
		l.SetKind("CertificateList")
		err := f.c.List(ctx, l, client.InNamespace(f.ns))
		return err == nil, err
	})
}

// issue marks the Certificate name Ready, as cert-manager does.
func issue(t *testing.T, f *repoFixture, name string) {
	t.Helper()
	ctx := testenv.Context(t)
	cert := &unstructured.Unstructured{}
	cert.SetAPIVersion("cert-manager.io/v1")
	cert.SetKind("Certificate")
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, cert); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","observedGeneration":%d}],"notAfter":"2027-02-28T10:00:00Z"}}`, cert.GetGeneration())
	if err := f.c.Status().Patch(ctx, cert, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

const certificateYAML = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web}\n" +
	"spec: {secretName: web-tls, dnsNames: [web.internal], issuerRef: {name: internal-ca, kind: ClusterIssuer}}\n"

// A sync that waits (sync.wait) waits on a cert-manager Certificate as on a
// Deployment: Progressing until cert-manager says Ready, then Healthy.
func TestSyncWaitsOnACertificate(t *testing.T) {
	f := newRepo(t)
	installCertificateCRD(t, f)
	rev := f.commit(t, "a certificate", map[string]string{"app/cert.yaml": certificateYAML})
	f.create(t, f.application("web", "app", func(app *v1.Application) {
		app.Spec.Sync.Wait = true
		app.Spec.Sync.Timeout = &metav1.Duration{Duration: 2 * time.Minute}
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonProgressing, rev)
	if app.Status.Health == nil || app.Status.Health.Status != "Progressing" {
		t.Fatalf("health %+v, want Progressing while cert-manager has not answered", app.Status.Health)
	}

	// cert-manager issues it.
	issue(t, f, "web")
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if app.Status.Health == nil || app.Status.Health.Status != "Healthy" {
		t.Errorf("health %+v, want Healthy once the Certificate is Ready", app.Status.Health)
	}
}

// Waves wait on a Certificate as on a Deployment: what needs the TLS Secret
// (wave 1) is applied only once cert-manager says the Certificate (wave 0)
// is Ready.
func TestAWaveWaitsOnACertificate(t *testing.T) {
	f := newRepo(t)
	installCertificateCRD(t, f)
	rev := f.commit(t, "a certificate, then what uses it", map[string]string{
		"app/cert.yaml": certificateYAML,
		"app/cm.yaml":   inWave(configMapYAML, "lockstep.dev/sync-wave", "1"),
	})
	f.create(t, f.application("web", "app", func(app *v1.Application) {
		app.Spec.Sync.Timeout = &metav1.Duration{Duration: 2 * time.Minute}
	}))
	eventually(t, 30*time.Second, "wave 0's Certificate is applied", func(ctx context.Context) (bool, error) {
		cert := &unstructured.Unstructured{}
		cert.SetAPIVersion("cert-manager.io/v1")
		cert.SetKind("Certificate")
		return f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, cert) == nil, nil
	})
	time.Sleep(2 * time.Second) // a wave that did not wait would have applied by now
	if f.configMapExists(t, f.ns, "settings") {
		t.Fatal("wave 1 applied before the Certificate of wave 0 was Ready")
	}
	issue(t, f, "web")
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
	if !f.configMapExists(t, f.ns, "settings") {
		t.Error("wave 1 not applied after the Certificate turned Ready")
	}
}
