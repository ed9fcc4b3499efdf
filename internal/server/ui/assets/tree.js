// tree.js: an Application's objects, grouped by kind, each with what it owns
// (Deployment → ReplicaSets → Pods, Job → Pods) and its health. A group's
// rows are built only when it is opened, so that an Application of thousands
// of objects draws at once and stays responsive; a text filter and "only
// what is not healthy" narrow it.
import { get, appPath } from "./api.js";
import { h, badge, fill } from "./dom.js";

// A group of at most this many objects starts open.
const openUpTo = 25;

export async function treeSection(ns, name, section, unhealthyOnly) {
  const heading = h("h2", { id: "tree-h" }, "Objects");
  section.replaceChildren(heading, h("p", { class: "muted", "aria-busy": "true" }, "Reading the objects…"));
  let t;
  try {
    t = await get(appPath(ns, name) + "/tree");
  } catch (err) {
    section.replaceChildren(heading, h("p", { class: "error" }, err.message));
    return;
  }
  const model = treeModel(t.nodes);
  heading.textContent = `Objects (${t.nodes.length})`;
  const filter = h("input", { type: "search", id: "tree-filter", placeholder: "kind or name" });
  const onlyBad = h("input", { type: "checkbox", id: "tree-unhealthy", checked: unhealthyOnly });
  const groups = h("div", { class: "groups" });
  const draw = () => groups.replaceChildren(...drawGroups(model, { ns, name, text: filter.value.trim().toLowerCase(), unhealthyOnly: onlyBad.checked }));
  let timer;
  filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(draw, 120); });
  onlyBad.addEventListener("change", draw);
  draw();
  fill(section, heading,
    h("div", { class: "filters", role: "search", "aria-label": "Objects" },
      h("label", { for: "tree-filter" }, "Filter", filter),
      h("label", { class: "check", for: "tree-unhealthy" }, onlyBad, `Only what is not healthy (${model.unhealthy})`)),
    groups,
    t.truncated ? h("p", { class: "muted" }, "The tree is cut short: the Application has more objects than the server lists.") : null,
    t.omitted ? h("p", { class: "muted" }, `${t.omitted} more objects are not shown: the Application's status lists at most 1,000, those that need a look first (failed, drifted, not healthy, changed).`) : null);
}

// treeModel indexes the nodes: each node's children, and the top-level
// objects (those the Application manages) by kind.
export function treeModel(nodes) {
  const kids = new Map(), byKind = new Map();
  for (const n of nodes) {
    const p = n.parent || "";
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(n);
  }
  for (const n of kids.get("") || []) {
    if (!byKind.has(n.kind)) byKind.set(n.kind, []);
    byKind.get(n.kind).push(n);
  }
  for (const list of byKind.values()) list.sort((a, b) => (a.namespace || "").localeCompare(b.namespace || "") || a.name.localeCompare(b.name));
  const unhealthy = nodes.filter(bad).length;
  return { kids, byKind: [...byKind.entries()].sort(([a], [b]) => a.localeCompare(b)), unhealthy };
}

const bad = (n) => !!n.health && n.health !== "Healthy";

// drawGroups draws one <details> per kind with what passes the filters: a
// node passes when it, or anything it owns, matches.
function drawGroups(model, opts) {
  const matches = (n) => (!opts.unhealthyOnly || bad(n)) && (!opts.text || `${n.kind}/${n.name}`.toLowerCase().includes(opts.text));
  const keep = (n) => matches(n) || (model.kids.get(n.id) || []).some(keep);
  const out = [];
  for (const [kind, all] of model.byKind) {
    const shown = opts.text || opts.unhealthyOnly ? all.filter(keep) : all;
    if (!shown.length) continue;
    const sick = shown.filter(bad).length;
    const body = h("ul", { class: "nodes" });
    let built = false;
    const build = () => {
      if (built) return;
      built = true;
      body.replaceChildren(...shown.map((n) => item(n, model, opts, keep)));
    };
    const group = h("details", { class: "group", "data-kind": kind, ontoggle: () => group.open && build() },
      h("summary", {}, h("strong", {}, kind), ` ${shown.length}`, sick ? [" · ", badge(`${sick} not healthy`, "degraded")] : null),
      body);
    if (shown.length <= openUpTo || opts.text || opts.unhealthyOnly) {
      build();
      group.open = true;
    }
    out.push(group);
  }
  return out.length ? out : [h("p", { class: "muted" }, "Nothing to show.")];
}

function item(n, model, opts, keep) {
  const children = (model.kids.get(n.id) || []).filter(opts.text || opts.unhealthyOnly ? keep : () => true);
  const href = `#/apps/${encodeURIComponent(opts.ns)}/${encodeURIComponent(opts.name)}/resource?` +
    new URLSearchParams({ group: n.group || "", kind: n.kind, namespace: n.namespace || "", name: n.name });
  return h("li", { "data-node": n.id },
    h("span", { class: "node" }, badge(n.health || "–", (n.health || "unknown").toLowerCase()), " ",
      h("a", { href }, `${n.kind}/${n.namespace ? n.namespace + "/" : ""}${n.name}`),
      n.info ? h("span", { class: "muted" }, " " + n.info) : null,
      n.healthMessage ? h("span", { class: "muted" }, " — " + n.healthMessage) : null),
    children.length ? h("ul", {}, children.map((c) => item(c, model, opts, keep))) : null);
}
