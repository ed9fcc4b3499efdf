package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/devenv"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// TestDevEnvironmentEndToEnd runs `lockstep dev` as a person would: wait for the
// ready line, source the env file, use kubectl's kubeconfig and git with the printed
// credentials (HTTPS and SSH, clone and push), then interrupt it and check that
// nothing it started is left running.
func TestDevEnvironmentEndToEnd(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, outW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		cmd := cli.NewRootCommand()
		cmd.SetArgs([]string{"dev", "--state-dir", stateDir})
		cmd.SetOut(outW)
		cmd.SetErr(&lockedWriter{w: &stderr})
		done <- cmd.ExecuteContext(ctx)
		outW.Close()
	}()

	ready := make(chan string, 1)
	go func() {
		var printed strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if sc.Text() == cli.ReadyLine {
				ready <- printed.String()
			}
		}
	}()
	var printed string
	select {
	case printed = <-ready:
	case err := <-done:
		t.Fatalf("lockstep dev returned before it was ready: %v\n%s", err, stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no %q line after 3 minutes\n%s", cli.ReadyLine, stderr.String())
	}
	envFile := filepath.Join(stateDir, "env")
	if !strings.Contains(printed, "source "+envFile) {
		t.Errorf("instructions do not say how to use the env file:\n%s", printed)
	}
	vars := sourceEnv(t, envFile)
	for _, name := range []string{"KUBECONFIG", "GIT_URL", "GIT_CA", "GIT_USERNAME", "GIT_PASSWORD", "LOCKSTEP_SERVER", "LOCKSTEP_CA",
		"LOCKSTEP_ADMIN_PASSWORD", "LOCKSTEP_VIEWER_PASSWORD", "LOCKSTEP_CONFIG", "LOCKSTEP_LEDGER_TOKEN"} {
		if vars[name] == "" {
			t.Errorf("env file lacks %s", name)
		}
	}
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file holds passwords; mode = %v (err %v), want 0600", fi.Mode().Perm(), err)
	}
	// LOCKSTEP_TOKEN would take the place of the session lockstep login saves.
	if raw, _ := os.ReadFile(envFile); strings.Contains(string(raw), "export LOCKSTEP_TOKEN=") {
		t.Error("env file exports LOCKSTEP_TOKEN, which overrides every login")
	}
	if !strings.HasPrefix(vars["LOCKSTEP_SERVER"], "https://127.0.0.1:") {
		t.Errorf("LOCKSTEP_SERVER = %q, want https on loopback", vars["LOCKSTEP_SERVER"])
	}
	for _, user := range []string{devenv.AdminAccount, devenv.ViewerAccount} {
		if !strings.Contains(printed, devenv.LoginCommand(user)) {
			t.Errorf("instructions lack the login command of %s:\n%s", user, printed)
		}
	}

	if fi, err := os.Stat(filepath.Join(stateDir, "git", "id_ed25519")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("SSH private key mode = %v (err %v), want 0600", fi.Mode().Perm(), err)
	}
	for _, secret := range []string{"GIT_PASSWORD", "LOCKSTEP_ADMIN_PASSWORD", "LOCKSTEP_VIEWER_PASSWORD", "LOCKSTEP_LEDGER_TOKEN"} {
		if strings.Contains(printed, vars[secret]) || strings.Contains(stderr.String(), vars[secret]) {
			t.Errorf("lockstep dev printed %s; it belongs in the env file only", secret)
		}
	}

	// The kubeconfig reaches the cluster, whose nodes are Ready.
	cfg, err := clientcmd.BuildConfigFromFlags("", vars["KUBECONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("listing nodes with the dev kubeconfig: %d nodes, err %v", len(nodes.Items), err)
	}

	// kubectl from the env file's PATH is the one built with the server.
	kubectl := exec.CommandContext(ctx, "sh", "-c", "command -v kubectl && kubectl get nodes -o name")
	kubectl.Env = append(os.Environ(), "PATH="+vars["PATH"], "KUBECONFIG="+vars["KUBECONFIG"])
	kout, err := kubectl.CombinedOutput()
	binDir, _, _ := strings.Cut(vars["PATH"], ":")
	if err != nil || !strings.HasPrefix(string(kout), filepath.Join(binDir, "kubectl")) || !strings.Contains(string(kout), "node/kwok-node-0") {
		t.Errorf("kubectl get nodes with the env file (want kubectl from %s): %v\n%s", binDir, err, kout)
	}

	// lockstep itself is on the env file's PATH too: the tour's `lockstep get apps`
	// runs the binary that runs `lockstep dev` (here, the test binary).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(filepath.SplitList(vars["PATH"]), filepath.Dir(self)) {
		t.Errorf("PATH after sourcing the env file = %q, want %s (where lockstep runs from) on it", vars["PATH"], filepath.Dir(self))
	}

	// Clone the example over HTTPS with the printed credentials, change it, push it,
	// and see the change over SSH.
	// Only what the env file sets: its scoped CA config and the SSH command.
	gitEnv := []string{"GIT_CONFIG_COUNT=" + vars["GIT_CONFIG_COUNT"], "GIT_CONFIG_KEY_0=" + vars["GIT_CONFIG_KEY_0"],
		"GIT_CONFIG_VALUE_0=" + vars["GIT_CONFIG_VALUE_0"], "GIT_SSH_COMMAND=" + vars["LOCKSTEP_GIT_SSH_COMMAND"]}
	work := t.TempDir()
	url := strings.Replace(vars["GIT_URL"], "https://", "https://"+vars["GIT_USERNAME"]+":"+vars["GIT_PASSWORD"]+"@", 1)
	git(t, work, gitEnv, "clone", "-q", url, "webapp")
	repo := filepath.Join(work, "webapp")
	for _, f := range []string{"base/kustomization.yaml", "overlays/prod/kustomization.yaml", "chart/Chart.yaml", "chart/templates/deployment.yaml"} {
		if _, err := os.Stat(filepath.Join(repo, f)); err != nil {
			t.Errorf("example repository lacks %s", f)
		}
	}
	// Every overlay of the example renders with kustomize and passes the API server's
	// validation (a server-side dry run), so the example is a real configuration.
	for _, env := range []string{"dev", "stage", "prod"} {
		// (the namespaces exist: the example Applications created them)
		script := fmt.Sprintf("kubectl kustomize %[2]s/overlays/%[1]s | kubectl apply --server-side --dry-run=server -f -", env, repo)
		check := exec.CommandContext(ctx, "sh", "-c", script)
		check.Env = kubectl.Env
		out, err := check.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "deployment.apps/webapp serverside-applied (server dry run)") {
			t.Errorf("overlay %s does not render and validate: %v\n%s", env, err, out)
		}
	}

	if err := os.WriteFile(filepath.Join(repo, "base", "configmap.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: webapp-config\ndata:\n  GREETING: changed\n  LOG_LEVEL: info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, gitEnv, "commit", "-qam", "Change the greeting")
	git(t, repo, gitEnv, "push", "-q", "origin", "HEAD:main")
	pushedAt := time.Now()
	pushed := strings.TrimSpace(git(t, repo, nil, "rev-parse", "HEAD"))
	git(t, work, gitEnv, "clone", "-q", vars["GIT_SSH_URL"], "over-ssh")
	if head := strings.TrimSpace(git(t, filepath.Join(work, "over-ssh"), nil, "rev-parse", "HEAD")); head != pushed {
		t.Errorf("SSH clone HEAD = %s, want the pushed %s", head, pushed)
	}

	// The example Applications were Ready before the ready line, and the push is
	// applied without anything else being done.
	apps := exec.CommandContext(ctx, "sh", "-c", "kubectl get applications -n lockstep -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}'")
	apps.Env = kubectl.Env
	out2, err := apps.CombinedOutput()
	if err != nil || strings.Count(string(out2), "=True") != 4 {
		t.Errorf("example Applications not all Ready: %s (%v)", out2, err)
	}
	deadline := time.Now().Add(devenv.PollInterval + 20*time.Second)
	// Both overlays take the base's change (exerciseCLI starts from it in
	// webapp-dev); each Application looks at the repository on its own pass.
	for _, ns := range []string{"webapp-prod", "webapp-dev"} {
		for {
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "webapp-config", metav1.GetOptions{})
			if err == nil && cm.Data["GREETING"] == "changed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pushed change did not reach %s within %s (ConfigMap: %v, err %v)", ns, devenv.PollInterval+20*time.Second, cm.Data, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	t.Logf("the push reached both overlays %s after git push returned (an SSH clone in between)", time.Since(pushedAt).Round(time.Millisecond))
	// It came by the Git server's webhook, not by polling: the Receiver
	// records the push (within a second or so).
	var last string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		rcv := exec.CommandContext(ctx, "sh", "-c", "kubectl get receiver "+devenv.ExampleReceiver+" -n lockstep -o jsonpath='{.status.lastEvent.commit} {.status.lastEvent.refreshed}'")
		rcv.Env = kubectl.Env
		out, _ := rcv.CombinedOutput()
		if last = string(out); strings.HasPrefix(last, pushed+" ") {
			break
		}
	}
	if !strings.HasPrefix(last, pushed+" ") || strings.HasSuffix(last, " 0") {
		t.Errorf("the Receiver's last event is %q, want the pushed %s refreshing the Applications", last, pushed)
	}

	// The README's drift demo: a `kubectl scale` is undone from the watch.
	before, err := cs.AppsV1().Deployments("webapp-prod").Get(ctx, "webapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale := exec.CommandContext(ctx, "sh", "-c", "kubectl scale deploy/webapp -n webapp-prod --replicas=9")
	scale.Env = kubectl.Env
	if out, err := scale.CombinedOutput(); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	scaled := time.Now()
	for {
		d, err := cs.AppsV1().Deployments("webapp-prod").Get(ctx, "webapp", metav1.GetOptions{})
		if err == nil && *d.Spec.Replicas == *before.Spec.Replicas {
			t.Logf("kubectl scale undone in %s", time.Since(scaled).Round(time.Millisecond))
			break
		}
		if time.Since(scaled) > 10*time.Second {
			t.Fatalf("kubectl scale --replicas=9 not undone within 10s (replicas %d, want %d; err %v)", *d.Spec.Replicas, *before.Spec.Replicas, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	exerciseCLI(t, vars, kubectl.Env, repo, gitEnv)
	exerciseAPI(t, vars)

	// Ctrl-C: everything it started goes away.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("lockstep dev exited with %v after interrupt", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("lockstep dev did not stop within a minute of the interrupt")
	}
	if left := processesMentioning(stateDir); len(left) > 0 {
		t.Errorf("processes still running after teardown: %v", left)
	}
}

// devDigest is the image digest exerciseCLI gives webapp-dev, which
// exerciseAPI promotes to webapp-stage.
const devDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func git(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(withoutGitVars(os.Environ()), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@lockstep.invalid",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@lockstep.invalid")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// withoutGitVars drops GIT_* variables of the developer's shell (GIT_ASKPASS,
// GIT_DIR, ...) so they cannot change what the test sees.
func withoutGitVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GIT_") {
			out = append(out, kv)
		}
	}
	return out
}

// sourceEnv sources the env file in a real shell and reads the variables back.
func sourceEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "sh", "-c", ". "+path+" && env").Output()
	if err != nil {
		t.Fatalf("sourcing %s: %v", path, err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// processesMentioning lists running processes whose command line contains s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // exited, waiting to be reaped
		}
		found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// exerciseCLI drives get, diff and sync against the dev environment: turn off
// automated sync of webapp-dev, push a change, see it as a diff, sync it by hand.
func exerciseCLI(t *testing.T, vars map[string]string, kubectlEnv []string, repo string, gitEnv []string) {
	kc := "--kubeconfig=" + vars["KUBECONFIG"]
	out, err := run(t, "get", "apps", "-n", "lockstep", kc)
	if err != nil || strings.Count(out, "Synced") != 4 || !strings.Contains(out, "webapp-helm") || !strings.Contains(out, "HEALTH") {
		t.Fatalf("get apps: %v\n%s", err, out)
	}
	// KWOK runs the example's pods, so every example Application turns Healthy.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out, "Healthy") != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("example Applications not all Healthy:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
		out, _ = run(t, "get", "apps", "-n", "lockstep", kc)
	}
	out, err = run(t, "get", "projects", kc)
	if err != nil || !regexp.MustCompile(`(?m)^webapp\s+4\s+-\s+-\s+-\s+registry\.internal\.example @digest\s`).MatchString(out) {
		t.Errorf("get projects: %v\n%s", err, out)
	}
	out, err = run(t, "get", "project", "webapp", kc)
	for _, want := range []string{"Only Applications in namespace lockstep may use it.", "may deploy only to in-cluster/webapp-* (cluster/namespace)",
		"except every kind of rbac.authorization.k8s.io", "must come from registry.internal.example and be pinned by digest", "Applications (4):", "lockstep   webapp-helm"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("get project webapp lacks %q: %v\n%s", want, err, out)
		}
	}
	if out, err = run(t, "get", "project", "default", kc); err != nil || !strings.Contains(out, "built-in default applies") || !strings.Contains(out, "Applications (0)") {
		t.Errorf("get project default: %v\n%s", err, out)
	}
	if _, err = run(t, "get", "project", "missing", kc); err == nil || !strings.Contains(err.Error(), "no such Project") {
		t.Errorf("get project missing: err = %v", err)
	}
	sh := func(script string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "sh", "-c", script)
		cmd.Env = kubectlEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	sh(`kubectl -n lockstep patch application webapp-dev --type merge -p '{"spec":{"sync":{"automated":false}}}'`)
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: webapp-config\ndata:\n  GREETING: changed-again\n  LOG_LEVEL: info\n"
	if err := os.WriteFile(filepath.Join(repo, "base", "configmap.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	// dev gets a new image too: exerciseAPI promotes it to stage.
	devOverlay := filepath.Join(repo, "overlays", "dev", "kustomization.yaml")
	raw, err := os.ReadFile(devOverlay)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(devOverlay, regexp.MustCompile(`digest: sha256:[0-9a-f]+`).ReplaceAll(raw, []byte("digest: "+devDigest)), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, gitEnv, "commit", "-qam", "Greet again")
	git(t, repo, gitEnv, "push", "-q", "origin", "HEAD:main")
	head := strings.TrimSpace(git(t, repo, nil, "rev-parse", "HEAD"))
	sh(`kubectl -n lockstep annotate application webapp-dev --overwrite lockstep.dev/reconcile-requested-at="$(date +%s%N)"`)
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, _ = run(t, "get", "app", "webapp-dev", "-n", "lockstep", kc, "-o", "json")
		if strings.Contains(out, `"status": "OutOfSync"`) && strings.Contains(out, head) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp-dev did not turn OutOfSync at %s:\n%s", head, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	out, err = run(t, "diff", "webapp-dev", "-n", "lockstep", kc)
	if err != nil || !strings.Contains(out, "-  GREETING: changed\n") || !strings.Contains(out, "+  GREETING: changed-again\n") {
		t.Errorf("diff: %v\n%s", err, out)
	}
	out, err = run(t, "sync", "webapp-dev", "-n", "lockstep", kc, "--timeout=30s")
	if err != nil || !strings.Contains(out, "requested by kubernetes-admin") || !strings.Contains(out, "synced "+head[:12]) {
		t.Errorf("sync: %v\n%s", err, out)
	}
	out, err = run(t, "get", "app", "webapp-dev", "-n", "lockstep", kc)
	if err != nil || !strings.Contains(out, "kubernetes-admin") || !strings.Contains(out, "Greet again") || !strings.Contains(out, "Health:") {
		t.Errorf("get app after a manual sync does not show who synced what: %v\n%s", err, out)
	}
	out, err = run(t, "diff", "webapp-dev", "-n", "lockstep", kc)
	if err != nil || !strings.Contains(out, "in sync") {
		t.Errorf("diff after the sync: %v\n%s", err, out)
	}
}

// exerciseAPI uses the CLI as the README's tour does, with nothing but the env
// file and no kubeconfig: log in over HTTPS as admin and as viewer with the
// env file's passwords and CA; admin syncs, reads the history, verifies the
// ledger; viewer reads and is refused a sync.
func exerciseAPI(t *testing.T, vars map[string]string) {
	for _, name := range []string{"LOCKSTEP_SERVER", "LOCKSTEP_CA", "LOCKSTEP_CONFIG"} {
		t.Setenv(name, vars[name])
	}
	t.Setenv("LOCKSTEP_TOKEN", "")
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	start := time.Now()
	defer func() {
		t.Logf("the tour through the API, as admin and as viewer, in %s", time.Since(start).Round(time.Millisecond))
	}()
	login := func(user, password string) (string, error) {
		return runWithInput(t, password+"\n", "login", "--server", vars["LOCKSTEP_SERVER"], "--certificate-authority", vars["LOCKSTEP_CA"],
			"--username", user, "--password-stdin", "--name", user)
	}
	// The API is HTTPS with the dev CA's certificate: without the CA, no login.
	if out, err := runWithInput(t, vars["LOCKSTEP_ADMIN_PASSWORD"]+"\n", "login", "--server", vars["LOCKSTEP_SERVER"], "--username", "admin", "--password-stdin"); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("login without the CA: %v\n%s", err, out)
	}
	if out, err := login(devenv.AdminAccount, vars["LOCKSTEP_ADMIN_PASSWORD"]); err != nil || !strings.Contains(out, "logged in to "+vars["LOCKSTEP_SERVER"]+" as admin") {
		t.Fatalf("login as admin: %v\n%s", err, out)
	}
	if fi, err := os.Stat(vars["LOCKSTEP_CONFIG"]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the CLI's configuration in the state dir: %v (mode %v), want mode 0600", err, fi.Mode().Perm())
	}
	out, err := run(t, "get", "apps")
	if err != nil || strings.Count(out, "Synced") != 4 {
		t.Errorf("get apps as admin: %v\n%s", err, out)
	}
	out, err = run(t, "sync", "webapp-dev", "-n", "lockstep", "--timeout=30s")
	if err != nil || !strings.Contains(out, "requested by admin") {
		t.Errorf("sync as admin: %v\n%s", err, out)
	}
	out, err = run(t, "history", "webapp-dev", "-n", "lockstep")
	if err != nil || !regexp.MustCompile(`Manual\s+admin\s+Succeeded`).MatchString(out) || !strings.Contains(out, "kubernetes-admin") {
		t.Errorf("history as admin, after syncs by the cluster admin and by admin: %v\n%s", err, out)
	}
	out, err = run(t, "audit", "verify")
	if err != nil || !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	out, err = run(t, "blame", "deployment/webapp", "-n", "webapp-prod")
	if err != nil || !strings.Contains(out, "spec.replicas") {
		t.Errorf("blame: %v\n%s", err, out)
	}
	// The ledger token reads the ledger, and only that.
	ledger := "--token=" + vars["LOCKSTEP_LEDGER_TOKEN"]
	if out, err = run(t, "history", "webapp-dev", "-n", "lockstep", ledger); err != nil || !strings.Contains(out, "admin") {
		t.Errorf("history with the ledger token: %v\n%s", err, out)
	}
	if out, err = run(t, "get", "apps", ledger); cli.ExitCode(err) != cli.ExitForbidden {
		t.Errorf("get apps with the ledger token: %v (exit %d), want refused\n%s", err, cli.ExitCode(err), out)
	}

	if out, err := login(devenv.ViewerAccount, vars["LOCKSTEP_VIEWER_PASSWORD"]); err != nil || !strings.Contains(out, "as viewer") {
		t.Fatalf("login as viewer: %v\n%s", err, out)
	}
	if out, err = run(t, "get", "apps"); err != nil || strings.Count(out, "Synced") != 4 {
		t.Errorf("get apps as viewer: %v\n%s", err, out)
	}
	out, err = run(t, "sync", "webapp-dev", "-n", "lockstep")
	var se *server.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || cli.ExitCode(err) != cli.ExitForbidden {
		t.Errorf("sync as viewer: %v (exit %d), want 403 and exit 4\n%s", err, cli.ExitCode(err), out)
	}
	if out, err = run(t, "sync", "webapp-dev", "-n", "lockstep", "--context", devenv.AdminAccount, "--timeout=30s"); err != nil {
		t.Errorf("sync in the admin context after the viewer's login: %v\n%s", err, out)
	}
	// The README's promotion: what dev runs goes to stage as a commit, and
	// stage applies it.
	out, err = run(t, "promote", "webapp-stage", "-n", "lockstep", "--dry-run", "--context", devenv.AdminAccount)
	if err != nil || !strings.Contains(out, "would write") || !strings.Contains(out, devDigest) {
		t.Errorf("promote --dry-run: %v\n%s", err, out)
	}
	out, err = run(t, "promote", "webapp-stage", "-n", "lockstep", "--reason", "the tour", "--context", devenv.AdminAccount)
	if err != nil || !strings.Contains(out, "pushed to main") {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		out, _ = run(t, "get", "app", "webapp-stage", "-n", "lockstep", "-o", "json", "--context", devenv.AdminAccount)
		if strings.Contains(out, "Promote ") && strings.Contains(out, `"status": "Synced"`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("webapp-stage did not apply the promotion within 30 s:\n%s", out)
		}
	}
}

// runWithInput is run with stdin.
func runWithInput(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}
