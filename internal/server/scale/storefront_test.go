package scale_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// storefront is the Application of the resource-tree benchmark: services
// workloads, each a Deployment of storefrontReplicas replicas with its
// Service, ConfigMap and ServiceAccount, created for real in a namespace of
// its own. The control plane's controllers give each Deployment a ReplicaSet
// and its Pods, which KWOK runs: 8 objects in the tree per service, 2,000 for
// 250. One Deployment in 10 asks for a node pool that does not exist, so its
// Pods stay Pending, and the status a controller would have written says
// that Deployment is Progressing.
type storefront struct {
	namespace, name, project string
	services                 int
}

const storefrontReplicas = 3

func (s storefront) service(i int) string { return fmt.Sprintf("svc-%03d", i) }

// stuck says whether service i's Pods can be scheduled nowhere.
func (s storefront) stuck(i int) bool { return i%10 == 3 }

// nodes is the size of the tree: the 4 objects of each service, its
// ReplicaSet and its Pods.
func (s storefront) nodes() int { return s.services * (4 + 1 + storefrontReplicas) }

// running is how many of the tree's Pods run.
func (s storefront) running() int {
	n := 0
	for i := range s.services {
		if !s.stuck(i) {
			n += storefrontReplicas
		}
	}
	return n
}

// objects are service i's objects as its repository holds them.
func (s storefront) objects(i int) []client.Object {
	name := s.service(i)
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: s.namespace, Name: n, Labels: map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": s.name}}
	}
	selector := map[string]string{"app.kubernetes.io/name": name}
	pod := corev1.PodSpec{ServiceAccountName: name, Containers: []corev1.Container{{
		Name: "app", Image: "registry.internal/shop/" + name + ":1.4." + fmt.Sprint(i%7),
		Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}},
	}}}
	if s.stuck(i) {
		pod.NodeSelector = map[string]string{"lockstep.dev/pool": "gpu"}
	}
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: meta(name)},
		&corev1.ConfigMap{ObjectMeta: meta(name + "-config"), Data: map[string]string{"LOG_LEVEL": "info", "UPSTREAM": fmt.Sprintf("http://%s:80", s.service((i+1)%s.services))}},
		&corev1.Service{ObjectMeta: meta(name), Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		&appsv1.Deployment{ObjectMeta: meta(name), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](storefrontReplicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector}, Spec: pod}}},
	}
}

// create makes the namespace, every service's objects and the Application
// with its status, and deletes the namespace when the benchmark ends.
func (s storefront) create(ctx context.Context, b *testing.B, c client.Client, scheme *k8sruntime.Scheme) {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace, Labels: map[string]string{"lockstep.dev/test": "true"}}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.Context()), time.Minute)
		defer cancel()
		if err := c.Delete(ctx, ns); err != nil {
			b.Errorf("deleting namespace %s: %v", s.namespace, err)
		}
	})
	err := inParallel(0, s.services, createWorkers, func(i int) error {
		for _, o := range s.objects(i) {
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("%T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	app := &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name, Labels: map[string]string{"team": "shop", "env": "prod"}},
		Spec: v1.ApplicationSpec{
			Project:     s.project,
			Source:      v1.Source{Git: v1.GitSource{URL: "https://git.internal/shop/storefront.git", Ref: v1.GitRef{Branch: "main"}}, Path: "deploy/prod"},
			Destination: v1.Destination{Namespace: s.namespace},
			Suspend:     true,
		},
	}
	if err := c.Create(ctx, app); err != nil {
		b.Fatal(err)
	}
	app.Status = s.status(b, scheme, time.Now())
	if err := c.Status().Update(ctx, app); err != nil {
		b.Fatalf("Application/%s/%s: %v", s.namespace, s.name, err)
	}
}

// status is what the controller would have written after syncing every
// service: each object unchanged and Healthy but the stuck Deployments.
func (s storefront) status(b *testing.B, scheme *k8sruntime.Scheme, now time.Time) v1.ApplicationStatus {
	var inventory []v1.ObjectReference
	var resources []v1.ResourceStatus
	worst := ""
	for i := range s.services {
		for _, o := range s.objects(i) {
			gvk, err := apiutil.GVKForObject(o, scheme)
			if err != nil {
				b.Fatal(err)
			}
			ref := v1.ObjectReference{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: s.namespace, Name: o.GetName()}
			r := v1.ResourceStatus{ObjectReference: ref, Action: v1.ActionUnchanged, Health: "Healthy"}
			if gvk.Kind == "Deployment" && s.stuck(i) {
				r.Health = "Progressing"
				r.HealthMessage = fmt.Sprintf("Deployment/%s/%s: 0 of %d replicas available", s.namespace, o.GetName(), storefrontReplicas)
				worst = "Deployment/" + s.namespace + "/" + o.GetName()
			}
			inventory, resources = append(inventory, ref), append(resources, r)
		}
	}
	applied := commitOf("storefront")
	commitTime := metav1.NewTime(now.Add(-time.Hour))
	st := v1.ApplicationStatus{
		ObservedGeneration: 1,
		Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonSucceeded, ObservedGeneration: 1,
			LastTransitionTime: metav1.NewTime(now.Add(-time.Hour)), Message: "applied revision main@sha1:" + applied}},
		Sync:   v1.SyncStatus{Status: v1.Synced, Revision: applied},
		Health: &v1.HealthStatus{Status: "Progressing", Object: worst},
		LastAppliedRevision: &v1.Revision{Commit: applied, Ref: "refs/heads/main", Author: "Dev Eloper <dev@example.com>",
			Committer: "Dev Eloper <dev@example.com>", CommitTime: &commitTime, Subject: "Scale the storefront to 250 services"},
		Resources: resources,
	}
	st.SetManaged(inventory)
	return st
}

// openLedger opens a ledger in a temporary folder, with a key of its own.
func openLedger(ctx context.Context, b *testing.B) (*sqlite.Store, *audit.Ledger) {
	b.Helper()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return store, audit.New(store, key)
}

// record writes the storefront's last syncs to the ledger, one a day, each a
// rollout of a few services: the page's history section reads them.
func (s storefront) record(ctx context.Context, b *testing.B, ledger *audit.Ledger, syncs int) {
	b.Helper()
	now := time.Now()
	recs := make([]audit.Record, syncs)
	for k := range recs {
		at := now.Add(-time.Duration(syncs-k) * 24 * time.Hour)
		var changes []audit.Change
		for j := range 3 {
			changes = append(changes, audit.Change{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: s.namespace,
				Name: s.service((k*3 + j) % s.services), Action: audit.Update, Rollout: true})
		}
		recs[k] = audit.Record{Time: at, Event: audit.EventSync, Application: s.namespace + "/" + s.name, Project: s.project,
			Namespace: s.namespace, Revision: commitOf(fmt.Sprint("storefront", k)),
			Commit: &audit.Commit{Author: "Dev Eloper <dev@example.com>", Time: at.Add(-time.Hour), Subject: fmt.Sprintf("Release %d", k),
				ApprovedBy: []string{"Rev Iewer <rev@example.com>"}},
			Actor: audit.ActorController, Trigger: "Git", Result: audit.Succeeded, Health: "Healthy", DurationMS: 2300, Changes: changes}
	}
	if _, err := ledger.Append(ctx, recs...); err != nil {
		b.Fatal(err)
	}
}

// waitForTree waits until the API's tree of s holds every object and every
// Pod that can run runs: the control plane's controllers and KWOK are done.
func (api *listAPI) waitForTree(ctx context.Context, b *testing.B, token string, s storefront) {
	b.Helper()
	c := api.client(b, token)
	var t server.Tree
	var err error
	running := 0
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		t, err = c.Tree(ctx, s.namespace, s.name)
		running = 0
		for _, n := range t.Nodes {
			if n.Kind == "Pod" && n.Health == "Healthy" {
				running++
			}
		}
		if err == nil && len(t.Nodes) == s.nodes() && running == s.running() {
			return
		}
	}
	b.Fatalf("the tree of %s/%s: %d nodes and %d Pods running (%v); want %d and %d", s.namespace, s.name, len(t.Nodes), running, err, s.nodes(), s.running())
}
