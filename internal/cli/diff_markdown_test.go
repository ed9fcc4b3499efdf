package cli_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// What came from Git cannot turn a pull request comment into something else:
// a subject cannot add HTML, links or mentions, a diff holding a fence or
// </details> stays inside its block, and a huge preview stays under the
// forges' comment limit.
func TestAMarkdownPreviewEscapesWhatCameFromGit(t *testing.T) {
	diff := "--- live\n+++ desired\n+  script: |\n+    ```\n+    </details><img src=x onerror=alert(1)>\n+    ````\n"
	pv := pass.Preview{Application: "shop/web", Revision: strings.Repeat("a", 40), Requested: "branch feat/x",
		Subject: "Fix [it](http://evil) @everyone <script>", Author: "Eve <eve@example.com>",
		Unmet:  []pass.Refusal{{Reason: "PolicyDenied", Message: "needs 2 approvers\nhas 0 | `x`"}},
		Counts: map[plan.Action]int{plan.Update: 1, plan.Unchanged: 3},
		Waves: []pass.PreviewWave{{Steps: []pass.PreviewStep{{Action: plan.Update, Kind: "ConfigMap", Namespace: "shop", Name: "cfg",
			ChangedFields: []string{"data.a|b", "data.`c`"}, Diff: diff}}}}}
	var out bytes.Buffer
	if err := cli.WritePreviewMarkdown(&out, pv); err != nil {
		t.Fatal(err)
	}
	md := out.String()
	for _, want := range []string{
		"\\[it\\]\\(http://evil\\) @\u2060everyone &lt;script&gt;",
		"| update | `ConfigMap/shop/cfg` | `data.a\\|b`, `` data.`c` `` |",
		"- `PolicyDenied`: needs 2 approvers has 0 \\| \\`x\\`",
		"**Would change:** 1 update · 3 unchanged",
		"`````diff\n" + diff + "`````\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"<script>", "[it](http", "@everyone"} {
		if strings.Contains(md, bad) {
			t.Errorf("holds %q unescaped:\n%s", bad, md)
		}
	}

	var steps []pass.PreviewStep
	for i := range 200 {
		steps = append(steps, pass.PreviewStep{Action: plan.Create, Kind: "ConfigMap", Name: fmt.Sprint("c", i), Diff: strings.Repeat("+ x\n", 200)})
	}
	pv.Waves = []pass.PreviewWave{{Steps: steps}}
	out.Reset()
	if err := cli.WritePreviewMarkdown(&out, pv); err != nil {
		t.Fatal(err)
	}
	if md := out.String(); len(md) > 65536 || !strings.Contains(md, "more diffs do not fit in a comment: `lockstep diff shop/web` shows them") || !strings.Contains(md, "| create | `ConfigMap/c199` |") {
		t.Errorf("a big preview: %d characters, ends %q", len(md), md[max(0, len(md)-200):])
	}

	// Thousands of objects and checks, and text that hides itself.
	steps = nil
	for i := range 3000 {
		steps = append(steps, pass.PreviewStep{Action: plan.Create, Kind: "ConfigMap", Name: fmt.Sprint("config-map-with-a-long-name-", i)})
	}
	pv.Waves = []pass.PreviewWave{{Steps: steps}}
	pv.Unmet = nil
	for range 30 {
		pv.Unmet = append(pv.Unmet, pass.Refusal{Reason: "PolicyDenied", Message: strings.Repeat("long ", 2000)})
	}
	pv.Subject = "fine\x1b[31m red \u202egnp.exe"
	out.Reset()
	if err := cli.WritePreviewMarkdown(&out, pv); err != nil {
		t.Fatal(err)
	}
	if md := out.String(); len(md) > 65536 || !strings.Contains(md, "and 2800 more objects") || !strings.Contains(md, "- and 10 more") || strings.ContainsAny(md, "\x1b\u202e") {
		t.Errorf("a huge preview: %d characters", len(md))
	}
}

// A refused revision is written whole, then is the error a CI job fails on.
func TestAMarkdownPreviewOfARefusal(t *testing.T) {
	pv := pass.Preview{Application: "shop/web", Revision: strings.Repeat("b", 40), Refused: &pass.Refusal{Reason: "RenderFailed", Message: "app/x.yaml:3: bad"}}
	var out bytes.Buffer
	if err := cli.WritePreviewMarkdown(&out, pv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "**Refused** (`RenderFailed`): app/x\\.yaml:3: bad") {
		t.Errorf("refusal:\n%s", out.String())
	}
}
