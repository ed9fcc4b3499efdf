package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/server/ui"
	"github.com/lockstep-dev/lockstep/internal/testenv/browser"
)

func TestMain(m *testing.M) { browser.Main(m) }

// modulePage serves the UI's assets and an empty page to load them into, so
// that a test can import one module in a real Chromium and call it, without
// the router (which would ask an API that is not there).
func modulePage(t *testing.T) *browser.Browser {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/assets/", ui.Handler())
	mux.HandleFunc("/blank", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", ui.ContentSecurityPolicy)
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>module test</title><link rel="stylesheet" href="/assets/style.css"><main id="main"></main>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := browser.New(t, srv.URL)
	b.Navigate("/blank")
	return b
}

// A diff as pass.StepDiff writes it: difflib, three lines of context; two
// hunks with seven unchanged lines between them and two before the first.
const twoHunks = `--- Deployment/shop/web (live)
+++ Deployment/shop/web (Update)
@@ -3,7 +3,7 @@
 metadata:
   name: web
   namespace: shop
-  labels: {tier: old}
+  labels: {tier: new}
 spec:
   replicas: 2
   selector:
@@ -17,6 +17,7 @@
       containers:
       - name: web
         image: registry.local/web@sha256:1
+        args: ["<script>alert(1)</script>"]
       ports:
       - containerPort: 80
       restartPolicy: Always
`

// showDiff draws text with diffView into the page and returns its rows as
// "old|new|kind|text" (unified) and the gap rows' text.
const showDiff = `(async (text, mode) => {
  localStorage.setItem("lockstep.diff.mode", mode);
  const { diffView } = await import("/assets/diff.js");
  const main = document.getElementById("main");
  main.replaceChildren(diffView(text, { title: "Live → Git" }));
  const rows = [...main.querySelectorAll("table.diff tbody tr:not(.gap)")].map((tr) =>
    [...tr.children].map((td) => td.classList.contains("ln") ? td.dataset.ln : td.textContent).join("|"));
  const gaps = [...main.querySelectorAll("tr.gap")].map((tr) => tr.textContent);
  return { rows, gaps, summary: main.querySelector("summary").textContent, scripts: document.scripts.length };
})`

type drawn struct {
	Rows    []string `json:"rows"`
	Gaps    []string `json:"gaps"`
	Summary string   `json:"summary"`
	Scripts int      `json:"scripts"`
}

func draw(b *browser.Browser, text, mode string) drawn {
	return browser.Evaluate[drawn](b, fmt.Sprintf("%s(%s, %q)", showDiff, jsString(text), mode))
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "${", "\\${")
	return "`" + r.Replace(s) + "`"
}

// The unified layout numbers both sides, so the lines a hunk leaves out show
// as a gap that says how many and which; text from the diff stays text.
func TestADiffShowsLineNumbersAndGaps(t *testing.T) {
	b := modulePage(t)
	d := draw(b, twoHunks, "unified")
	want := []string{
		"3|3| |metadata:",
		"6||−|  labels: {tier: old}",
		"|6|+|  labels: {tier: new}",
		"9|9| |  selector:",
		"17|17| |      containers:",
		"|20|+|        args: [\"<script>alert(1)</script>\"]",
		"22|23| |      restartPolicy: Always",
	}
	for _, w := range want {
		if !contains(d.Rows, w) {
			t.Errorf("no row %q in\n%s", w, strings.Join(d.Rows, "\n"))
		}
	}
	if len(d.Rows) != 15 {
		t.Errorf("%d rows, want 15", len(d.Rows))
	}
	if strings.Join(d.Gaps, ";") != "⋯ 2 unchanged lines (1–2);⋯ 7 unchanged lines (10–16)" {
		t.Errorf("gaps: %q", d.Gaps)
	}
	if d.Summary != "Live → Git +2 −1" {
		t.Errorf("summary %q", d.Summary)
	}
	if d.Scripts != 0 {
		t.Errorf("the diff's text became %d script elements", d.Scripts)
	}
}

// Side by side, each removed line faces the line that replaces it; a line
// added alone faces an empty cell; context is on both sides with both numbers.
func TestADiffSideBySide(t *testing.T) {
	b := modulePage(t)
	d := draw(b, twoHunks, "split")
	for _, w := range []string{
		"3|metadata:|3|metadata:",
		"6|  labels: {tier: old}|6|  labels: {tier: new}",
		"||20|        args: [\"<script>alert(1)</script>\"]",
		"22|      restartPolicy: Always|23|      restartPolicy: Always",
	} {
		if !contains(d.Rows, w) {
			t.Errorf("no row %q in\n%s", w, strings.Join(d.Rows, "\n"))
		}
	}
	if len(d.Rows) != 14 {
		t.Errorf("%d rows, want 14", len(d.Rows))
	}
	// The layout is a choice the page offers and remembers.
	b.Click(`.diff-mode button[aria-pressed="false"]`)
	if got := browser.Evaluate[string](b, `localStorage.getItem("lockstep.diff.mode")`); got != "unified" {
		t.Errorf("after the switch the layout is %q", got)
	}
	if n := b.Count("table.diff.unified"); n != 1 {
		t.Errorf("after the switch %d unified tables", n)
	}
}

// A create has only a new side and a prune only an old one; neither shows a
// gap or a number on the side that does not exist.
func TestADiffOfACreateAndOfAPrune(t *testing.T) {
	b := modulePage(t)
	create := draw(b, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+kind: ConfigMap\n+data: {}\n", "unified")
	if strings.Join(create.Rows, ";") != "|1|+|kind: ConfigMap;|2|+|data: {}" || len(create.Gaps) != 0 {
		t.Errorf("create: %q %q", create.Rows, create.Gaps)
	}
	prune := draw(b, "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-kind: ConfigMap\n-data: {}\n", "split")
	if strings.Join(prune.Rows, ";") != "1|kind: ConfigMap||;2|data: {}||" || len(prune.Gaps) != 0 {
		t.Errorf("prune: %q %q", prune.Rows, prune.Gaps)
	}
}

// Text that is not a diff, or a broken one, draws what it can and never
// throws; an empty diff says so.
func TestAMalformedDiffDrawsWithoutError(t *testing.T) {
	b := modulePage(t)
	for _, text := range []string{
		"",
		"not a diff at all\n<img src=x onerror=alert(1)>",
		"@@ -x,y +z @@\n+a\n",
		"+line before any hunk\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n",
		"@@ -99999999999999999999,1 +1,1 @@\n-a\n+b\n",
	} {
		d := draw(b, text, "unified")
		if d.Scripts != 0 {
			t.Errorf("%q: script elements", text)
		}
		if len(d.Rows) == 0 && !strings.Contains(b.Text("#main"), "No difference.") {
			t.Errorf("%q: neither rows nor 'No difference.'", text)
		}
	}
	if d := draw(b, "@@ -1 +1 @@\n-a\n+b\n", "unified"); strings.Join(d.Rows, ";") != "1||−|a;|1|+|b" {
		t.Errorf("a hunk without counts: %q", d.Rows)
	}
}

// What the server says about a diff it cut or left out shows under it; a
// step whose diff was left out does not read "No difference."
func TestADiffSaysWhenItWasCut(t *testing.T) {
	b := modulePage(t)
	d := draw(b, "@@ -1 +1 @@\n-a\n+b\n... (cut: the diff is longer than 256 KiB; lockstep diff --kubeconfig prints it whole)\n", "unified")
	if len(d.Rows) != 2 || !strings.Contains(b.Text("#main"), "(cut: the diff is longer than 256 KiB") {
		t.Errorf("a cut diff: %q, %q", d.Rows, b.Text("#main"))
	}
	draw(b, "... (not shown: this preview's diffs are longer than 8 MiB together; lockstep diff --kubeconfig prints them all)\n", "unified")
	if text := b.Text("#main"); strings.Contains(text, "No difference.") || !strings.Contains(text, "not shown") {
		t.Errorf("a diff left out reads %q", text)
	}
}

// A diff of 20,000 changed lines draws every line (the API caps what it
// sends; the page must not drop or crash on what it gets).
func TestALargeDiffDrawsEveryLine(t *testing.T) {
	b := modulePage(t)
	var text strings.Builder
	text.WriteString("@@ -1,10000 +1,10000 @@\n")
	for i := range 10000 {
		fmt.Fprintf(&text, "-old %d\n", i)
	}
	for i := range 10000 {
		fmt.Fprintf(&text, "+new %d\n", i)
	}
	if d := draw(b, text.String(), "split"); len(d.Rows) != 10000 || d.Rows[9999] != "10000|old 9999|10000|new 9999" {
		t.Errorf("%d rows, last %q", len(d.Rows), d.Rows[len(d.Rows)-1])
	}
}

// The tree groups an Application's own objects by kind and keeps what they
// own under them.
func TestTheTreeModelGroupsByKind(t *testing.T) {
	b := modulePage(t)
	got := browser.Evaluate[string](b, `import("/assets/tree.js").then(({ treeModel }) => {
  const m = treeModel([
    { id: "d1", kind: "Deployment", name: "web", health: "Degraded" },
    { id: "s1", kind: "Service", name: "web", health: "Healthy" },
    { id: "d0", kind: "Deployment", name: "api", health: "Healthy" },
    { id: "r1", parent: "d1", kind: "ReplicaSet", name: "web-1", health: "Degraded" },
    { id: "p1", parent: "r1", kind: "Pod", name: "web-1-a", health: "Progressing" },
  ]);
  return m.byKind.map(([k, ns]) => k + ":" + ns.map((n) => n.name).join(",")).join(" ") +
    " | " + m.kids.get("r1").map((n) => n.name) + " | " + m.unhealthy;
})`)
	if got != "Deployment:api,web Service:web | web-1-a | 3" {
		t.Errorf("tree model: %q", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
