package crd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/lockstep-dev/lockstep/config/crd"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// A controller started on a cluster whose Application CRD predates one of
// its fields refuses to run, naming the field: the API server would drop it
// from every status write, and with it what each Application manages.
func TestAnOlderCRDIsRefused(t *testing.T) {
	ctx, cfg := testenv.Context(t), testenv.Config(t)
	if err := crd.Install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := crd.Install(context.Background(), cfg); err != nil {
			t.Error(err)
		}
	})
	disco := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	served := func(wantErr string) {
		t.Helper()
		var last error
		testenv.Eventually(t, 30*time.Second, "the OpenAPI document to follow the CRD", func(context.Context) (bool, error) {
			last = crd.CheckServed(disco)
			if wantErr == "" {
				return last == nil, nil
			}
			return last != nil && strings.Contains(last.Error(), wantErr), nil
		})
		if t.Failed() {
			t.Logf("last: %v", last)
		}
	}
	served("")

	api := apiextensionsclient.NewForConfigOrDie(cfg).ApiextensionsV1().CustomResourceDefinitions()
	apps, err := api.Get(ctx, "applications.lockstep.dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range apps.Spec.Versions {
		delete(apps.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["status"].Properties, "managed")
	}
	if _, err := api.Update(ctx, apps, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	served("lacks status.managed")
}
