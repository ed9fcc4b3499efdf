package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
)

// fakeCluster answers the tree's reads: the Deployment web owns Pod web-1,
// whose log is larger than the API lets through. It stands in for the
// cluster in these tests of the API's own rules; the real watches are tested
// on the real control plane (reconcile's TestTheResourceTreeAndARestartThroughTheAPI).
type fakeCluster struct {
	restarted  []string
	restartErr error // when set, what restarting fails with
	records    []audit.Record
	logErr     error                                 // when set, what reading a log fails with
	ledgerErr  error                                 // when set, what appending to the ledger fails with
	objects    map[string]*unstructured.Unstructured // what Get finds, by "kind/namespace/name"
}

func (f *fakeCluster) Of(_ context.Context, group, kind, namespace, name string) ([]*unstructured.Unstructured, error) {
	if kind != "Deployment" || name != "web" {
		return nil, nil
	}
	pod := &unstructured.Unstructured{}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetNamespace(namespace)
	pod.SetName("web-1")
	_ = unstructured.SetNestedField(pod.Object, "Running", "status", "phase")
	return []*unstructured.Unstructured{pod}, nil
}

func (f *fakeCluster) Get(_ context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	if o, ok := f.objects[kind+"/"+namespace+"/"+name]; ok {
		return o.DeepCopy(), nil
	}
	return nil, &server.NotFoundError{}
}

func (f *fakeCluster) Events(context.Context, string, string, string) ([]corev1.Event, error) {
	return nil, nil
}

func (f *fakeCluster) Logs(ctx context.Context, _ *v1.Application, _, _ string, opts corev1.PodLogOptions) (io.ReadCloser, error) {
	if f.logErr != nil {
		return nil, f.logErr
	}
	if opts.Follow {
		return io.NopCloser(io.MultiReader(strings.NewReader("a followed line\n"), untilDone{ctx})), nil
	}
	return io.NopCloser(strings.NewReader(strings.Repeat("a line of the log\n", 1<<20))), nil // 18 MiB
}

// untilDone is a followed log that says nothing more until the caller leaves.
type untilDone struct{ ctx context.Context }

func (u untilDone) Read([]byte) (int, error) {
	<-u.ctx.Done()
	return 0, io.EOF
}

func (f *fakeCluster) Restart(_ context.Context, _ *v1.Application, group, kind, namespace, name string, _ time.Time) error {
	if f.restartErr != nil {
		return f.restartErr
	}
	f.restarted = append(f.restarted, group+"/"+kind+"/"+namespace+"/"+name)
	return nil
}

func (f *fakeCluster) Append(_ context.Context, recs ...audit.Record) ([]audit.Record, error) {
	if f.ledgerErr != nil {
		return nil, f.ledgerErr
	}
	f.records = append(f.records, recs...)
	return recs, nil
}

func newClusterAPI(t *testing.T) (*apiFixture, *fakeCluster) {
	web := app("team", "web", "team-a", v1.Synced, "Healthy")
	web.Status.Resources = []v1.ResourceStatus{
		{ObjectReference: v1.ObjectReference{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "web"}, Health: "Healthy"},
		{ObjectReference: v1.ObjectReference{Version: "v1", Kind: "Secret", Namespace: "team", Name: "db"}, Health: "Healthy"},
	}
	web.Status.ResourcesOmitted = 1
	web.Status.SetManaged([]v1.ObjectReference{{Version: "v1", Kind: "Secret", Namespace: "team", Name: "db"},
		{Version: "v1", Kind: "Secret", Namespace: "team", Name: "unlisted"}, {Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "cfg"}})
	fc := &fakeCluster{}
	f := newAPIWith(t, func(d *server.Deps) { d.Cluster, d.Recorder, d.Hub = fc, fc, server.NewHub() }, web, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	return f, fc
}

func TestTreeLogsAndRestartKeepToTheApplication(t *testing.T) {
	f, fc := newClusterAPI(t)
	admin, dev := f.as(t, "admin"), f.as(t, "dev")
	base := server.PathApplications + "/team/web"
	if code, body := f.do(t, http.MethodGet, base+"/tree", dev, nil); code != 200 || !strings.Contains(body, `"parent":"apps/Deployment/team/web"`) {
		t.Errorf("tree: %d %s", code, body)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"pod=web-1&tailLines=999999", 400},
		{"pod=web-1&sinceSeconds=-1", 400},
		{"pod=", 400},
		{"pod=kube-apiserver&namespace=kube-system", 404},
		{"pod=web-2", 404},
	} {
		if code, body := f.do(t, http.MethodGet, base+"/logs?"+tc.query, dev, nil); code != tc.want {
			t.Errorf("logs?%s: %d %s; want %d", tc.query, code, body, tc.want)
		}
	}
	code, body := f.do(t, http.MethodGet, base+"/logs?pod=web-1", dev, nil)
	if code != 200 || len(body) > 10<<20 || !strings.HasPrefix(body, "a line of the log\n") {
		t.Errorf("logs: %d, %d bytes; want at most 10 MiB", code, len(body))
	}

	// The object's answer says which actions the caller may run on it.
	for _, tc := range []struct {
		query, who, want string
	}{
		{"group=apps&kind=Deployment&namespace=team&name=web", admin, `"actions":["restart"]`},
		{"group=apps&kind=Deployment&namespace=team&name=web", dev, ""},
		{"kind=Secret&namespace=team&name=db", admin, ""},
	} {
		code, body := f.do(t, http.MethodGet, base+"/resource?"+tc.query, tc.who, nil)
		if code != 200 || tc.want != "" && !strings.Contains(body, tc.want) || tc.want == "" && strings.Contains(body, `"actions"`) {
			t.Errorf("resource?%s: %d, want %q in %.300s", tc.query, code, tc.want, body)
		}
	}

	restart := base + "/resource/actions/restart?group=apps&kind=Deployment&namespace=team&name=web"
	if code, _ := f.do(t, http.MethodPost, restart, dev, nil); code != http.StatusForbidden {
		t.Errorf("dev restarts without action/apps/Deployment/restart: %d", code)
	}
	for _, q := range []string{"?kind=Secret&namespace=team&name=db", "?group=apps&kind=Deployment&namespace=team&name=other"} {
		if code, _ := f.do(t, http.MethodPost, base+"/resource/actions/restart"+q, admin, nil); code/100 != 4 {
			t.Errorf("restart%s: %d", q, code)
		}
	}
	if code, _ := f.do(t, http.MethodPost, base+"/resource/actions/delete?kind=Secret&namespace=team&name=db", admin, nil); code != 400 {
		t.Errorf("an unknown resource action: %d", code)
	}
	fc.ledgerErr = errors.New("no space left on device, db.internal:5432 user audit")
	if code, body := f.do(t, http.MethodPost, restart, admin, nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "nothing was restarted") ||
		strings.Contains(body, "db.internal") || len(fc.restarted) != 0 {
		t.Errorf("admin restarts while the ledger does not answer: %d %s, restarted %v", code, body, fc.restarted)
	}
	fc.ledgerErr, fc.restartErr = nil, errors.New("deployments.apps \"web\" is forbidden")
	if code, _ := f.do(t, http.MethodPost, restart, admin, nil); code/100 != 5 || len(fc.records) != 2 ||
		fc.records[0].Result != audit.Succeeded || fc.records[1].Result != audit.Failed || !strings.Contains(fc.records[1].Message, "forbidden") {
		t.Errorf("a restart that fails after it was recorded: %d, records %+v", code, fc.records)
	}
	fc.restartErr, fc.records = nil, nil
	if code, body := f.do(t, http.MethodPost, restart, admin, nil); code != http.StatusAccepted {
		t.Fatalf("admin restarts: %d %s", code, body)
	}
	if len(fc.restarted) != 1 || len(fc.records) != 1 || fc.records[0].Actor != "admin" || fc.records[0].Event != audit.EventAction {
		t.Errorf("restarted %v, records %+v", fc.restarted, fc.records)
	}
}

// A followed log stays open for up to 30 minutes: it counts against the same
// limits as live streams, per caller and in all. A caller is an account: the
// tokens someone creates share that person's limit, so they cannot multiply
// it.
func TestFollowedLogsCountAsStreams(t *testing.T) {
	defer server.SetMaxStreams(server.MaxStreamsPerCaller + 2)()
	f, _ := newClusterAPI(t)
	dev, viewer := f.as(t, "dev"), f.as(t, "viewer")
	devTokens := []string{dev}
	for _, name := range []string{"one", "two", "three", "four"} {
		devTokens = append(devTokens, newToken(t, f, dev, name).Token)
	}
	logs := server.PathApplications + "/team/web/logs?pod=web-1"
	open := func(path, cred string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		line, _ := bufio.NewReader(resp.Body).ReadString('\n') // the stream has begun
		return resp, line
	}
	var held []*http.Response
	for i := range server.MaxStreamsPerCaller { // dev's session and three of dev's tokens
		resp, body := open(logs+"&follow=true", devTokens[i%4])
		if resp.StatusCode != http.StatusOK || body != "a followed line\n" {
			t.Fatalf("followed log %d: %d %q", len(held)+1, resp.StatusCode, body)
		}
		held = append(held, resp)
	}
	for _, tc := range []struct {
		name, path, cred string
		want             int
		wantBody         string
	}{
		{"one more followed log", logs + "&follow=true", dev, http.StatusTooManyRequests, "streams open already (live updates and followed logs, your API tokens' included): close one"},
		{"one more with a token of the same caller", logs + "&follow=true", devTokens[1], http.StatusTooManyRequests, "close one"},
		{"one more with a new token of the same caller", logs + "&follow=true", devTokens[4], http.StatusTooManyRequests, "close one"},
		{"a live stream of the same caller", server.PathStream + "/applications", dev, http.StatusTooManyRequests, "close one"},
		{"a log's tail, which is not followed", logs + "&tailLines=1", dev, http.StatusOK, "a line of the log"},
		{"another caller's followed log", logs + "&follow=true", viewer, http.StatusOK, "a followed line"},
		{"another caller's live stream", server.PathStream + "/applications", viewer, http.StatusOK, ""},
		{"over the limit in all", logs + "&follow=true", viewer, http.StatusServiceUnavailable, "too many streams"},
	} {
		resp, body := open(tc.path, tc.cred)
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: %d %.200q; want %d %q", tc.name, resp.StatusCode, body, tc.want, tc.wantBody)
		}
	}
	// A closed log gives its place back.
	held[0].Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := open(logs+"&follow=true", dev)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one was closed: %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newToken creates an API token as cred (role:readonly, for an hour).
func newToken(t *testing.T, f *apiFixture, cred, name string) server.NewToken {
	t.Helper()
	code, body := f.do(t, http.MethodPost, server.PathTokens, cred, auth.TokenRequest{Name: name, Roles: []string{"role:readonly"}, ExpiresIn: "1h"})
	var tok server.NewToken
	if err := json.Unmarshal([]byte(body), &tok); code != http.StatusCreated || err != nil {
		t.Fatalf("creating token %s: %d %s", name, code, body)
	}
	return tok
}

// failingWriter fails every patch with err.
type failingWriter struct {
	client.Writer
	err error
}

func (w failingWriter) Patch(context.Context, client.Object, client.Patch, ...client.PatchOption) error {
	return w.err
}

// What the API server answers for a request it refuses is the caller's to
// read; a failure to reach the API server or, through it, a node's kubelet
// names internal addresses: the caller gets a request ID and the controller's
// log the cause.
func TestClusterFailuresNameNoInternalAddresses(t *testing.T) {
	dialAPI := &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/namespaces/team/pods/web-1/log",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	dialKubelet := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
		Message: `Get "https://127.0.0.1:10250/containerLogs/team/web-1/app": dial tcp 127.0.0.1:10250: connect: connection refused`}}
	for _, tc := range []struct {
		name     string
		err      error
		want     string // in the answer
		internal string // in the log only
	}{
		{"the API server unreachable", dialAPI, "the cluster could not be reached to read this Pod's log", "10.96.0.1"},
		{"the kubelet unreachable", dialKubelet, "the node's kubelet could not be reached to read this Pod's log", "127.0.0.1:10250"},
		{"no container named", apierrors.NewBadRequest("a container name must be specified for pod web-1, choose one of: [app sidecar]"), "a container name must be specified", ""},
		{"a container waiting", fmt.Errorf("acting as x: %w", apierrors.NewBadRequest(`container "app" in pod "web-1" is waiting to start: ContainerCreating`)), "is waiting to start", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, fc := newClusterAPI(t)
			fc.logErr = tc.err
			code, body := f.do(t, http.MethodGet, server.PathApplications+"/team/web/logs?pod=web-1", f.as(t, "dev"), nil)
			if code != http.StatusBadGateway || !strings.Contains(body, tc.want) || !strings.Contains(body, "Pod team/web-1") {
				t.Errorf("%d %s; want 502 with %q", code, body, tc.want)
			}
			if tc.internal == "" {
				return
			}
			if strings.Contains(body, tc.internal) || !strings.Contains(body, "request ") {
				t.Errorf("the answer names %s, or no request ID: %s", tc.internal, body)
			}
			if !strings.Contains(f.logs.String(), tc.internal) {
				t.Errorf("the cause is not in the controller's log: %s", f.logs.String())
			}
		})
	}

	// A bulk action says, for each Application, why it failed: the same rule.
	for _, tc := range []struct {
		name, want, internal string
		err                  error
	}{
		{"the API server unreachable", "the API server could not be reached", "10.96.0.1", dialAPI},
		{"a conflict", "the object has been modified", "", apierrors.NewConflict(schema.GroupResource{Group: "lockstep.dev", Resource: "applications"}, "web", errors.New("the object has been modified"))},
	} {
		t.Run("bulk: "+tc.name, func(t *testing.T) {
			f := newAPIWith(t, func(d *server.Deps) { d.Writer = failingWriter{Writer: d.Writer, err: tc.err} })
			code, body := f.do(t, http.MethodPost, server.PathApplications+"/bulk/refresh?project=team-a", f.as(t, "admin"), nil)
			var res server.BulkResult
			_ = json.Unmarshal([]byte(body), &res)
			if code != http.StatusAccepted || res.Counts["failed"] == 0 {
				t.Fatalf("%d %s", code, body)
			}
			for _, item := range res.Results {
				if item.Outcome == "failed" && (!strings.Contains(item.Error, tc.want) || tc.internal != "" && (strings.Contains(item.Error, tc.internal) || !strings.Contains(item.Error, "request "))) {
					t.Errorf("%s: %q; want %q, not %q", item.Application, item.Error, tc.want, tc.internal)
				}
			}
			if tc.internal != "" && !strings.Contains(f.logs.String(), tc.internal) {
				t.Errorf("the cause is not in the controller's log: %s", f.logs.String())
			}
		})
	}
}

// An object's view hides the values of the Secrets its Application manages
// (listed in status.resources or only in status.managed, as a large
// Application's are) and of those its Helm values come from, wherever they
// were copied: the live manifest, its YAML, the tree's health messages.
func TestObjectViewsHideSecretValuesCopiedElsewhere(t *testing.T) {
	const managed, fromValues, unlisted = "managed-secret-value", "helm-values-secret", "unlisted-secret-value"
	obj := func(y string) *unstructured.Unstructured { return parseObject(t, y) }
	web := app("team", "web", "team-a", v1.Synced, "Healthy")
	web.Spec.Destination.Namespace = "team"
	web.Spec.Source.Helm = &v1.HelmOptions{ValuesFrom: []v1.ValuesReference{{Kind: "Secret", Name: "vals"}}}
	web.Status.Resources = []v1.ResourceStatus{
		{ObjectReference: v1.ObjectReference{Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "cfg"}, Health: "Degraded",
			HealthMessage: "cannot reach postgres://app:" + fromValues + "@db"},
		{ObjectReference: v1.ObjectReference{Version: "v1", Kind: "Secret", Namespace: "team", Name: "db"}, Health: "Healthy"},
	}
	web.Status.ResourcesOmitted = 1
	web.Status.SetManaged([]v1.ObjectReference{{Version: "v1", Kind: "Secret", Namespace: "team", Name: "db"},
		{Version: "v1", Kind: "Secret", Namespace: "team", Name: "unlisted"}, {Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "cfg"}})
	fc := &fakeCluster{objects: map[string]*unstructured.Unstructured{
		"secret/team/db":       obj("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team}\ndata: {password: " + base64.StdEncoding.EncodeToString([]byte(managed)) + "}\n"),
		"secret/team/vals":     obj("apiVersion: v1\nkind: Secret\nmetadata: {name: vals, namespace: team}\nstringData: {values.yaml: 'db: {password: " + fromValues + "}'}\n"),
		"secret/team/unlisted": obj("apiVersion: v1\nkind: Secret\nmetadata: {name: unlisted, namespace: team}\nstringData: {token: " + unlisted + "}\n"),
		"configmap/team/cfg":   obj("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: team}\ndata: {a: " + managed + ", b: 'x-" + fromValues + "', c: " + unlisted + "}\n"),
	}}
	f := newAPIWith(t, func(d *server.Deps) { d.Cluster, d.Recorder = fc, fc }, web, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	admin := f.as(t, "admin")
	base := server.PathApplications + "/team/web"
	for _, path := range []string{base + "/resource?kind=ConfigMap&namespace=team&name=cfg", base + "/tree"} {
		code, body := f.do(t, http.MethodGet, path, admin, nil)
		if code != 200 || strings.Contains(body, managed) || strings.Contains(body, fromValues) || strings.Contains(body, unlisted) || !strings.Contains(body, audit.Redacted) {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
}

// An Application whose status leaves objects out (more than
// v1.MaxResources) still shows them: those it manages, and what they own.
// What it neither manages nor owns stays out of reach.
func TestObjectsTheStatusLeavesOutCanStillBeOpened(t *testing.T) {
	obj := func(y string) *unstructured.Unstructured { return parseObject(t, y) }
	web := app("team", "web", "team-a", v1.Synced, "Healthy")
	web.Status.ResourcesOmitted = 1
	web.Status.SetManaged([]v1.ObjectReference{{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "web"}})
	owned := func(kind, name, ownerAPI, ownerKind, owner string) string {
		return "kind: " + kind + "\nmetadata: {name: " + name + ", namespace: team, ownerReferences: [{apiVersion: " + ownerAPI + ", kind: " + ownerKind +
			", name: " + owner + ", uid: u1, controller: true}]}\n"
	}
	fc := &fakeCluster{objects: map[string]*unstructured.Unstructured{
		"deployment.apps/team/web":   obj("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team}\n"),
		"replicaset.apps/team/web-1": obj("apiVersion: apps/v1\n" + owned("ReplicaSet", "web-1", "apps/v1", "Deployment", "web")),
		"pod/team/web-1-x":           obj("apiVersion: v1\n" + owned("Pod", "web-1-x", "apps/v1", "ReplicaSet", "web-1")),
		"pod/team/stray":             obj("apiVersion: v1\n" + owned("Pod", "stray", "apps/v1", "ReplicaSet", "other")),
		"configmap/team/other":       obj("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: team}\n"),
		"configmap/team/made":        obj("apiVersion: v1\n" + owned("ConfigMap", "made", "apps/v1", "Deployment", "web")),
	}}
	f := newAPIWith(t, func(d *server.Deps) { d.Cluster, d.Recorder = fc, fc }, web, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	admin := f.as(t, "admin")
	base := server.PathApplications + "/team/web/resource?namespace=team&"
	for _, tc := range []struct {
		query      string
		code       int
		managed    bool
		parentPart string
	}{
		{"group=apps&kind=Deployment&name=web", 200, true, ""},
		{"kind=Pod&name=web-1-x", 200, false, "ReplicaSet/team/web-1"},
		{"kind=Pod&name=stray", 404, false, ""},
		{"kind=ConfigMap&name=other", 404, false, ""},
		{"kind=ConfigMap&name=made", 404, false, ""}, // the tree shows no ConfigMaps under owners
		{"group=example.com&kind=Widget&name=w", 404, false, ""},
	} {
		code, body := f.do(t, http.MethodGet, base+tc.query, admin, nil)
		if code != tc.code {
			t.Errorf("%s: %d %s", tc.query, code, body)
			continue
		}
		if code != 200 {
			continue
		}
		var res server.Resource
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		if res.Node.Managed != tc.managed || !strings.Contains(res.Node.Parent, tc.parentPart) {
			t.Errorf("%s: node %+v", tc.query, res.Node)
		}
	}
}

func parseObject(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}
