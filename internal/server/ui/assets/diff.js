// diff.js: a unified diff (as the API sends it: difflib's, three lines of
// context) drawn as a table, unified or side by side, with the line numbers
// of both sides so that the lines left out between hunks show as a gap.
import { h } from "./dom.js";

// parseDiff turns unified-diff text into hunks of rows. A row is
// {kind: "ctx"|"del"|"add", old, new, text}; old/new are line numbers (or
// null on the side the line is not on).
export function parseDiff(text) {
  const hunks = [];
  // Lines the server adds about the diff ("... (cut: …)", "... (not shown: …)")
  // are kept as notes, shown under it.
  hunks.notes = [];
  let hunk = null, o = 0, n = 0;
  for (const line of text.split("\n")) {
    const m = line.match(/^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/);
    if (m) {
      o = Number(m[1]);
      n = Number(m[3]);
      // An empty side ("-0,0") names the line before it: nothing of it shows,
      // but the next hunk's gap counts from the line after.
      if (m[2] === "0") o++;
      if (m[4] === "0") n++;
      // A header no diff of a Kubernetes object can have is not believed.
      hunk = Number.isSafeInteger(o) && Number.isSafeInteger(n) ? { oldStart: o, rows: [] } : null;
      if (hunk) hunks.push(hunk);
    } else if (line.startsWith("... (")) {
      hunks.notes.push(line.slice(4));
    } else if (!hunk || line.startsWith("---") || line.startsWith("+++")) {
      continue;
    } else if (line.startsWith("+")) {
      hunk.rows.push({ kind: "add", old: null, new: n++, text: line.slice(1) });
    } else if (line.startsWith("-")) {
      hunk.rows.push({ kind: "del", old: o++, new: null, text: line.slice(1) });
    } else if (line.startsWith(" ")) {
      hunk.rows.push({ kind: "ctx", old: o++, new: n++, text: line.slice(1) });
    }
  }
  return hunks;
}

// pairRows lines up a hunk's rows side by side: context on both sides, and
// in each run of changes the n-th removed line next to the n-th added one.
export function pairRows(rows) {
  const out = [];
  for (let i = 0; i < rows.length;) {
    if (rows[i].kind === "ctx") {
      out.push([rows[i], rows[i]]);
      i++;
      continue;
    }
    const dels = [], adds = [];
    while (i < rows.length && rows[i].kind === "del") dels.push(rows[i++]);
    while (i < rows.length && rows[i].kind === "add") adds.push(rows[i++]);
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) out.push([dels[k] || null, adds[k] || null]);
  }
  return out;
}

const modeKey = "lockstep.diff.mode";

// diffView draws the diff with a switch between unified and side by side
// (remembered in this browser) inside a <details>, open unless told.
export function diffView(text, { title = "Diff", open = true } = {}) {
  const hunks = parseDiff(text);
  const counts = hunks.flatMap((hk) => hk.rows).reduce((c, r) => (c[r.kind]++, c), { add: 0, del: 0, ctx: 0 });
  const body = h("div", { class: "diff-body" });
  let mode = localStorage.getItem(modeKey) === "split" ? "split" : "unified";
  // The buttons stay (only aria-pressed changes), so the focus stays on the
  // one pressed.
  const buttons = [["unified", "Unified"], ["split", "Side by side"]].map(([m, label]) =>
    h("button", { type: "button", "data-mode": m, onclick: () => { mode = m; localStorage.setItem(modeKey, m); draw(); } }, label));
  const switcher = h("div", { class: "diff-mode", role: "group", "aria-label": "Diff layout" }, buttons);
  const draw = () => {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    body.replaceChildren(hunks.length ? (mode === "split" ? splitTable(hunks) : unifiedTable(hunks)) : hunks.notes.length ? "" : h("p", { class: "muted" }, "No difference."),
      ...hunks.notes.map((n) => h("p", { class: "muted diff-note" }, n)));
  };
  draw();
  return h("details", { class: "diff", open },
    h("summary", {}, title, " ", h("span", { class: "add" }, `+${counts.add}`), " ", h("span", { class: "del" }, `−${counts.del}`)),
    switcher, body);
}

// gap is the row that stands for the unchanged lines a hunk leaves out.
function gap(from, to, cols) {
  const n = to - from;
  return n > 0 ? h("tr", { class: "gap" }, h("td", { colspan: cols }, `⋯ ${n} unchanged line${n === 1 ? "" : "s"} (${from}–${to - 1})`)) : null;
}

const ln = (v) => h("td", { class: "ln", "data-ln": v === null ? "" : String(v) });
const sign = { add: "+", del: "−", ctx: " " };

function unifiedTable(hunks) {
  let next = 1;
  const rows = [];
  for (const hk of hunks) {
    rows.push(gap(next, hk.oldStart, 4));
    for (const r of hk.rows) {
      rows.push(h("tr", { class: r.kind }, ln(r.old), ln(r.new), h("td", { class: "sign", "aria-hidden": "true" }, sign[r.kind]), h("td", { class: "code" }, r.text)));
      if (r.old !== null) next = r.old + 1;
    }
  }
  return h("table", { class: "diff unified" },
    h("thead", { class: "sr-only" }, h("tr", {}, h("th", { scope: "col" }, "Live line"), h("th", { scope: "col" }, "Git line"), h("th", { scope: "col" }, "Change"), h("th", { scope: "col" }, "Text"))),
    h("tbody", {}, rows));
}

function splitTable(hunks) {
  let next = 1;
  const rows = [];
  const side = (r, at) => r ? [ln(r[at]), h("td", { class: "code " + r.kind }, r.text)] : [ln(null), h("td", { class: "code none" })];
  for (const hk of hunks) {
    rows.push(gap(next, hk.oldStart, 4));
    for (const [l, r] of pairRows(hk.rows)) {
      rows.push(h("tr", {}, side(l, "old"), side(r, "new")));
      if (l && l.old !== null) next = l.old + 1;
    }
  }
  return h("table", { class: "diff split" },
    h("thead", {}, h("tr", {}, h("th", { colspan: 2, scope: "colgroup" }, "Live"), h("th", { colspan: 2, scope: "colgroup" }, "Git"))),
    h("tbody", {}, rows));
}
