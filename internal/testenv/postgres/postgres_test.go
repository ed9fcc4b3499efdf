package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lockstep-dev/lockstep/internal/testenv/postgres"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

func TestMain(m *testing.M) { postgres.Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Each test's database is its own: a table made in one is not in another.
func TestDatabasesAreSeparate(t *testing.T) {
	a, b := connect(t, postgres.Database(t)), connect(t, postgres.Database(t))
	if _, err := a.Exec(t.Context(), "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := b.QueryRow(t.Context(), "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil || found {
		t.Fatalf("the table is in the other database too: %v, %v", found, err)
	}
}

// PostgreSQL refuses to run as root: as root, the tests' server runs as the
// postgres user; it listens on loopback only and asks for the password there.
func TestServerRunsUnprivilegedOnLoopback(t *testing.T) {
	s := postgres.Shared(t)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if fields := strings.Fields(line); len(fields) > 1 && fields[0] == "Uid:" && fields[1] == "0" {
			t.Errorf("the server runs as root: %s", line)
		}
	}
	conn := connect(t, s.DSN("postgres"))
	var listen string
	if err := conn.QueryRow(t.Context(), "SHOW listen_addresses").Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, %v", listen, err)
	}
	wrong := strings.Replace(s.DSN("postgres"), s.Password, "wrong-password", 1)
	if _, err := pgx.Connect(t.Context(), wrong); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("a wrong password: %v", err)
	}
}

// A server of its own, stopped: its processes are gone, and so is its folder.
func TestStopLeavesNothing(t *testing.T) {
	s, err := postgres.Start(t.Context(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %v (PostgreSQL %d)", s.Started.Round(time.Millisecond), s.Version)
	pid, dir := s.PID(), s.Dir
	s.Stop()
	if proc.Alive(pid) {
		t.Errorf("postgres (pid %d) still runs after Stop", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dir, err)
	}
}

// A test binary killed outright (SIGKILL: no cleanup runs) takes its server
// along: the postmaster gets a parent-death signal, and its sessions end when
// it does. The test re-executes itself; the child reports its server and waits.
func TestServerDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("POSTGRES_TEST_CHILD") != "" {
		fmt.Printf("SERVER %d\n", postgres.Shared(t).PID())
		time.Sleep(time.Minute) // killed by the parent
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestServerDiesWithTheTestBinary$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "POSTGRES_TEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	for sc := bufio.NewScanner(out); pid == 0 && sc.Scan(); {
		if s, ok := strings.CutPrefix(sc.Text(), "SERVER "); ok {
			pid, _ = strconv.Atoi(s)
		}
	}
	if pid == 0 || !proc.Alive(pid) {
		t.Fatalf("the child reported no running server (pid %d)", pid)
	}
	dir := childDir(t, pid)
	defer os.RemoveAll(dir) // the child has no chance to
	all := append([]int{pid}, childrenOf(t, pid)...)
	if len(all) < 3 {
		t.Fatalf("the server runs %d processes, expected its background workers too", len(all))
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var alive []int
		for _, p := range all {
			if proc.Alive(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the server of a killed test binary still run: %v", alive)
		}
	}
}

// childDir is the folder of the server whose postmaster is pid, from its -D.
func childDir(t *testing.T, pid int) string {
	t.Helper()
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(cmdline), "\x00")
	for i, a := range args {
		if a == "-D" && i+1 < len(args) {
			return strings.TrimSuffix(args[i+1], "/data")
		}
	}
	t.Fatalf("no -D in %q", args)
	return ""
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent is the second field after the command name, which is in
		// parentheses and may hold spaces.
		rest := string(stat)[strings.LastIndexByte(string(stat), ')')+1:]
		if fields := strings.Fields(rest); len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
