// resource.js: one object of an Application's tree: live and desired
// manifests, the diff, its Events, and a Pod's log.
import { get, post, query, appPath } from "./api.js";
import { h, render, when, badge, toast, busy } from "./dom.js";
import { onLeave } from "./page.js";
import { blameSection } from "./history.js";
import { diffView } from "./diff.js";

export async function resourceView(ns, name, params) {
  const key = { group: params.get("group") || "", kind: params.get("kind") || "", namespace: params.get("namespace") || "", name: params.get("name") || "" };
  const title = [key.kind, key.namespace, key.name].filter(Boolean).join("/");
  const back = h("p", {}, h("a", { href: `#/apps/${encodeURIComponent(ns)}/${encodeURIComponent(name)}` }, `← ${ns}/${name}`));
  const desired = params.get("desired") === "true";
  let r;
  try {
    r = await get(appPath(ns, name) + "/resource" + query({ ...key, desired }));
  } catch (err) {
    render(back, h("h1", {}, title), h("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  const q = new URLSearchParams(params);
  q.set("desired", "true");
  const parts = [back, h("h1", {}, title, " ", badge(r.node.health || "–", (r.node.health || "unknown").toLowerCase())),
    r.node.healthMessage ? h("p", { class: "muted" }, r.node.healthMessage) : null];
  if ((r.actions || []).includes("restart") && r.live) parts.push(restart(ns, name, key, title));
  if (r.node.managed && !desired) {
    parts.push(h("p", {}, h("a", { class: "button", href: `#/apps/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/resource?${q}` }, "Compare with Git")));
  }
  if (r.diff) parts.push(h("h2", {}, "Diff with Git at ", h("span", { class: "mono" }, (r.revision || "").slice(0, 12))), diffView(r.diff, { title: "Live → Git" }));
  else if (desired && r.node.managed) parts.push(h("p", {}, "The live object is as Git wants it."));
  // A Pod is read through its log and Events; an object Git manages through
  // its diff and blame. The whole manifest is one click away, open first
  // only for what is neither.
  if (key.kind === "Pod") parts.push(logs(ns, name, key, r.live));
  parts.push(h("h2", {}, "Events"), r.events.length ? h("table", { class: "apps" },
    h("thead", {}, h("tr", {}, ["Last seen", "Type", "Reason", "Message", "Count"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, r.events.map((e) => h("tr", {}, h("td", {}, when(e.lastSeen)), h("td", {}, e.type), h("td", {}, e.reason), h("td", {}, e.message), h("td", {}, e.count || ""))))) : h("p", { class: "muted" }, "No Events."));
  parts.push(h("details", { open: !desired && !r.node.managed && key.kind !== "Pod" },
    h("summary", { class: "title" }, "Live manifest"),
    h("pre", {}, r.live ? r.liveYAML || JSON.stringify(r.live, null, 2) : "Not found in the cluster.")));
  if (r.desired) parts.push(h("details", {}, h("summary", { class: "title" }, "Desired manifest"), h("pre", {}, r.desiredYAML || JSON.stringify(r.desired, null, 2))));
  const blame = h("section");
  if (r.node.managed) parts.push(blame);
  render(...parts);
  if (r.node.managed) blameSection(key).then((s) => blame.replaceWith(s));
}

// restart offers kubectl rollout restart of a workload, asking once more
// before it replaces every Pod.
function restart(ns, name, key, title) {
  const box = h("div", { class: "actions", role: "group", "aria-label": "Actions on " + title });
  const offer = () => box.replaceChildren(h("button", { type: "button", onclick: confirm }, "Restart"));
  const confirm = () => {
    const yes = h("button", { type: "button", class: "primary", onclick: (e) => busy(e.currentTarget, run) }, "Yes, restart");
    box.replaceChildren(h("span", {}, `Replace every Pod of ${title}, as kubectl rollout restart does?`), yes,
      h("button", { type: "button", onclick: offer }, "Cancel"));
    yes.focus();
  };
  const run = async () => {
    try {
      const res = await post(appPath(ns, name) + "/resource/actions/restart" + query(key));
      toast(`${res.action}: requested by ${res.actor}`);
    } catch (err) {
      toast(err.message, "error");
    }
    offer();
  };
  offer();
  return box;
}

// logs shows a Pod's log: the tail, or followed as it comes; a filter keeps
// the lines that contain a text, and the shown text can be downloaded.
function logs(ns, name, key, pod) {
  const out = h("pre", { class: "log", "aria-live": "off" });
  // Which container: kubectl's default-container annotation, else the
  // first; init containers can be read too.
  const spec = (pod && pod.spec) || {};
  const names = [...(spec.containers || []), ...(spec.initContainers || [])].map((c) => c.name);
  const preferred = ((pod && pod.metadata && pod.metadata.annotations) || {})["kubectl.kubernetes.io/default-container"];
  const container = h("select", { id: "log-container" }, names.map((n) => h("option", { value: n, selected: n === (names.includes(preferred) ? preferred : names[0]) }, n)));
  const filter = h("input", { type: "search", id: "log-filter", placeholder: "only lines containing…" });
  const follow = h("input", { type: "checkbox", id: "log-follow" });
  const lines = [];
  let ctrl = null;
  const show = () => {
    const f = filter.value;
    out.textContent = lines.filter((l) => !f || l.includes(f)).join("\n");
  };
  const load = async () => {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    lines.length = 0;
    show();
    const path = "/api/v1" + appPath(ns, name) + "/logs" + query({ pod: key.name, namespace: key.namespace, container: container.value, tailLines: 500, follow: follow.checked });
    try {
      const resp = await fetch(path, { credentials: "same-origin", signal: ctrl.signal });
      if (!resp.ok) {
        out.textContent = ((await resp.json().catch(() => null)) || {}).error || resp.statusText;
        return;
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = (rest + value).split("\n");
        rest = parts.pop();
        lines.push(...parts);
        if (lines.length > 20000) lines.splice(0, lines.length - 20000);
        show();
      }
      if (rest) { lines.push(rest); show(); }
    } catch (err) {
      if (err.name !== "AbortError") out.textContent = err.message;
    }
  };
  const download = () => {
    const a = h("a", { href: URL.createObjectURL(new Blob([out.textContent], { type: "text/plain" })), download: key.name + (names.length > 1 ? "-" + container.value : "") + ".log" });
    a.click();
    URL.revokeObjectURL(a.href);
  };
  filter.addEventListener("input", show);
  follow.addEventListener("change", load);
  container.addEventListener("change", load);
  onLeave(() => ctrl && ctrl.abort());
  load();
  return h("section", { "aria-labelledby": "logs-h" }, h("h2", { id: "logs-h" }, "Log"),
    h("div", { class: "filters" },
      names.length > 1 ? h("label", { for: "log-container" }, "Container", container) : null,
      h("label", { for: "log-filter" }, "Filter", filter),
      h("label", { class: "check", for: "log-follow" }, follow, "Follow"),
      h("button", { type: "button", onclick: download }, "Download")),
    out);
}
