package scale_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// fleet is the Applications of one benchmark run: app(i) is a pure function
// of i, so the benchmark knows what each filter must select without asking
// the server. Application i lives in namespace i%namespaces and Project
// i%projects (so every namespace belongs to one Project, as teams arrange
// them), and is suspended: no controller acts on it.
type fleet struct {
	id         string // keeps the names of this run apart from any other's
	apps       int
	namespaces int
	projects   int
}

// newFleet is a fleet of apps Applications over listNamespaces namespaces and
// listProjects Projects, its names its own.
func newFleet(apps int) fleet {
	return fleet{id: fmt.Sprintf("%04x", time.Now().UnixNano()&0xffff), apps: apps, namespaces: listNamespaces, projects: listProjects}
}

func (f fleet) namespace(i int) string { return fmt.Sprintf("list-%s-%02d", f.id, i%f.namespaces) }
func (f fleet) project(i int) string   { return fmt.Sprintf("list-%s-p%02d", f.id, i%f.projects) }
func (f fleet) name(i int) string      { return fmt.Sprintf("svc-%04d", i) }

var (
	tiers = []string{"web", "api", "worker", "db"}
	envs  = []string{"prod", "staging", "dev"}
)

// labels of Application i: team follows the Project, tier and env vary
// across it.
func (f fleet) labels(i int) map[string]string {
	return map[string]string{"team": fmt.Sprintf("team-%d", i%10), "tier": tiers[(i/3)%len(tiers)], "env": envs[(i/7)%len(envs)]}
}

// spread maps i to 0..99, unrelated to i's namespace and Project.
func spread(i, prime int) int { return (i * prime) % 100 }

// sync of Application i: 70 % Synced, 20 % OutOfSync, 10 % Unknown.
func (f fleet) sync(i int) v1.SyncState {
	switch k := spread(i, 7919); {
	case k < 70:
		return v1.Synced
	case k < 90:
		return v1.OutOfSync
	default:
		return v1.Unknown
	}
}

// health of Application i: 80 % Healthy, then Progressing, Degraded, Missing.
func (f fleet) health(i int) string {
	switch k := spread(i, 104729); {
	case k < 80:
		return "Healthy"
	case k < 88:
		return "Progressing"
	case k < 95:
		return "Degraded"
	default:
		return "Missing"
	}
}

// readyReason of Application i: 1 % refused by policy, 1 % by verification,
// 2 % reverted drift, the rest Succeeded.
func (f fleet) readyReason(i int) string {
	switch spread(i, 15485863) {
	case 0:
		return v1.ReasonPolicyDenied
	case 1:
		return v1.ReasonVerificationFailed
	case 2, 3:
		return v1.ReasonDriftReverted
	default:
		return v1.ReasonSucceeded
	}
}

func commitOf(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// app is Application i without its status, which only the status subresource
// takes.
func (f fleet) app(i int) *v1.Application {
	team := f.labels(i)["team"]
	return &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace(i), Name: f.name(i), Labels: f.labels(i)},
		Spec: v1.ApplicationSpec{
			Project: f.project(i),
			Source: v1.Source{
				Git:  v1.GitSource{URL: "https://git.internal/" + team + "/" + f.name(i) + ".git", Ref: v1.GitRef{Branch: "main"}, SecretRef: &v1.LocalObjectReference{Name: "git-auth"}},
				Path: "deploy/" + f.labels(i)["env"],
			},
			Destination: v1.Destination{Namespace: f.namespace(i)},
			Suspend:     true,
		},
	}
}

// status is what a controller would have written for Application i after a
// few syncs of a Deployment, its Service, ConfigMap and ServiceAccount: the
// size of a typical status, so the cache holds what a real one holds.
func (f fleet) status(i int, now time.Time) v1.ApplicationStatus {
	name, ns := f.name(i), f.namespace(i)
	head, applied := commitOf(fmt.Sprint("head", i)), commitOf(fmt.Sprint("applied", i))
	sync, health, reason := f.sync(i), f.health(i), f.readyReason(i)
	ready := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: reason, ObservedGeneration: 1,
		LastTransitionTime: metav1.NewTime(now.Add(-time.Hour)), Message: "applied revision main@sha1:" + applied}
	syncReason := ""
	switch reason {
	case v1.ReasonPolicyDenied:
		ready.Status, ready.Message = metav1.ConditionFalse, "Deployment/"+ns+"/"+name+": image registry.example.com/app:latest: registry not allowed by the Project"
		syncReason = reason
	case v1.ReasonVerificationFailed:
		ready.Status, ready.Message = metav1.ConditionFalse, "commit "+head+": no signature by a trusted key"
		syncReason = reason
	}
	objects := []v1.ObjectReference{
		{Version: "v1", Kind: "ServiceAccount", Namespace: ns, Name: name},
		{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: name + "-config"},
		{Version: "v1", Kind: "Service", Namespace: ns, Name: name},
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: name},
	}
	resources := make([]v1.ResourceStatus, len(objects))
	for k, o := range objects {
		resources[k] = v1.ResourceStatus{ObjectReference: o, Action: v1.ActionUnchanged, Health: "Healthy"}
	}
	resources[3].Health = health
	if health != "Healthy" {
		resources[3].HealthMessage = "Deployment/" + ns + "/" + name + ": 1 of 2 replicas available"
	}
	var history []v1.SyncRecord
	for k := range 3 {
		at := now.Add(-time.Duration(k+1) * time.Hour)
		history = append(history, v1.SyncRecord{Revision: commitOf(fmt.Sprint("history", i, k)), StartedAt: metav1.NewTime(at),
			FinishedAt: metav1.NewTime(at.Add(2 * time.Second)), Result: v1.SyncSucceeded, Initiator: "controller", Trigger: v1.TriggerGit, Updated: 1})
	}
	commitTime := metav1.NewTime(now.Add(-2 * time.Hour))
	st := v1.ApplicationStatus{
		ObservedGeneration: 1,
		Conditions:         []metav1.Condition{ready},
		Sync:               v1.SyncStatus{Status: sync, Revision: head, Reason: syncReason},
		Health:             &v1.HealthStatus{Status: health, Object: "Deployment/" + ns + "/" + name},
		LastAppliedRevision: &v1.Revision{Commit: applied, Ref: "refs/heads/main", Author: "Dev Eloper <dev@example.com>",
			Committer: "Dev Eloper <dev@example.com>", CommitTime: &commitTime, Subject: "Bump " + name + " to 1.4." + fmt.Sprint(i%50),
			Trailers: []v1.Trailer{{Key: "Approved-by", Value: "Rev Iewer <rev@example.com>"}}},
		LastAppliedDigest: "sha256:" + strings.Repeat(applied[:32], 2),
		Resources:         resources,
		History:           history,
	}
	st.SetManaged(objects)
	return st
}

// create makes the fleet's namespaces, Projects and Applications (each
// created, then its status written) with workers in parallel, and returns how
// long that took.
func (f fleet) create(ctx context.Context, b *testing.B, c client.Client, workers int) time.Duration {
	b.Helper()
	start := time.Now()
	for n := range f.namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.namespace(n), Labels: map[string]string{"lockstep.dev/test": "true"}}}); err != nil {
			b.Fatal(err)
		}
	}
	for p := range f.projects {
		prefix := fmt.Sprintf("list-%s-", f.id)
		if err := c.Create(ctx, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: f.project(p)},
			Spec: v1.ProjectSpec{SourceNamespaces: []string{prefix + "*"}, SourceRepos: []string{"https://git.internal/**"}}}); err != nil {
			b.Fatal(err)
		}
	}
	f.createApps(ctx, b, c, 0, workers)
	return time.Since(start)
}

// createApps creates Applications from up to f.apps (their namespaces and
// Projects exist), each created and then given its status, with workers in
// parallel: a fleet grows by raising apps and creating from the old count.
func (f fleet) createApps(ctx context.Context, b *testing.B, c client.Client, from, workers int) {
	b.Helper()
	now := time.Now()
	err := inParallel(from, f.apps, workers, func(i int) error {
		a := f.app(i)
		err := c.Create(ctx, a)
		if err == nil {
			a.Status = f.status(i, now)
			err = c.Status().Update(ctx, a)
		}
		if err != nil {
			return fmt.Errorf("Application/%s/%s: %w", a.Namespace, a.Name, err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// inParallel calls do for each i from from up to to, from workers goroutines,
// and returns the first error (the others still run).
func inParallel(from, to, workers int, do func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					once.Do(func() { failed = err })
				}
			}
		})
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return failed
}

// remove deletes what create made; the namespaces go in the background.
func (f fleet) remove(ctx context.Context, b *testing.B, c client.Client) {
	for n := range f.namespaces {
		ns := f.namespace(n)
		if err := c.DeleteAllOf(ctx, &v1.Application{}, client.InNamespace(ns)); err != nil {
			b.Errorf("deleting the Applications of %s: %v", ns, err)
		}
		if err := c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Errorf("deleting namespace %s: %v", ns, err)
		}
	}
	for p := range f.projects {
		if err := c.Delete(ctx, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: f.project(p)}}); err != nil {
			b.Errorf("deleting Project %s: %v", f.project(p), err)
		}
	}
}
