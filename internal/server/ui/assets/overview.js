// overview.js: every Application at a glance, filtered and paged by the
// server, kept live by server-sent events.
import { get, query } from "./api.js";
import { h, render, short, authorName, badge, when, liveStatus } from "./dom.js";
import { onLeave } from "./page.js";

const filters = [
  ["search", "Search", "text"],
  ["project", "Project", "text"],
  ["namespace", "Namespace", "text"],
  ["labels", "Labels", "text"],
  ["sync", "Sync", ["", "Synced", "OutOfSync", "Unknown"]],
  ["health", "Health", ["", "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]],
];

export async function overviewView(params) {
  const f = Object.fromEntries(filters.map(([k]) => [k, params.get(k) || ""]));
  f.policyDenied = params.get("policyDenied") === "true";
  f.verificationFailed = params.get("verificationFailed") === "true";
  const limit = 100;
  const pages = params.get("pages") ? params.get("pages").split(",") : [];
  const cont = pages.length ? pages[pages.length - 1] : "";

  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, , kind] of filters) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    if (form.elements.policyDenied.checked) q.set("policyDenied", "true");
    if (form.elements.verificationFailed.checked) q.set("verificationFailed", "true");
    location.hash = "#/?" + q.toString();
  } },
    filters.map(([k, label, kind]) => h("label", {}, label, Array.isArray(kind)
      ? h("select", { name: k }, kind.map((o) => h("option", { value: o, selected: o === f[k] }, o || "any")))
      : h("input", { name: k, value: f[k], type: "search", placeholder: k === "labels" ? "team=web" : "" }))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "policyDenied", checked: f.policyDenied }), "Policy denied"),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "verificationFailed", checked: f.verificationFailed }), "Verification failed"),
    h("button", { type: "submit" }, "Filter"),
  );

  let list;
  try {
    list = await get("/applications" + query({ ...f, limit, continue: cont }));
  } catch (err) {
    render(h("h1", {}, "Applications"), form, h("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  const rows = new Map();
  const tbody = h("tbody", {}, list.items.map((a) => {
    const tr = row(a);
    rows.set(a.namespace + "/" + a.name, tr);
    return tr;
  }));
  const table = h("table", { class: "apps" },
    h("caption", {}, `${list.total} Application${list.total === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ["Application", "Project", "Sync", "Health", "Newest", "Applied", "Author", "Last sync", "Flags"].map((c) => h("th", { scope: "col" }, c)))),
    tbody);

  const base = new URLSearchParams(params);
  const pageLink = (p, label) => {
    const q = new URLSearchParams(base);
    if (p.length) q.set("pages", p.join(",")); else q.delete("pages");
    return h("a", { href: "#/?" + q.toString(), class: "button" }, label);
  };
  const nav = h("nav", { class: "pager", "aria-label": "Pages" },
    pages.length ? pageLink(pages.slice(0, -1), "← Previous") : null,
    h("span", {}, `page ${pages.length + 1} of ${Math.max(1, Math.ceil(list.total / limit))}`),
    list.continue ? pageLink([...pages, list.continue], "Next →") : null);

  render(h("h1", {}, "Applications"), form, list.items.length ? table : h("p", { class: "muted" }, "No Application matches."), nav);

  // Live: rows of this page change in place; a deleted one goes.
  const es = new EventSource("/api/v1/stream/applications" + query(f));
  nav.after(liveStatus(es));
  es.addEventListener("upsert", (e) => {
    const a = JSON.parse(e.data);
    const key = a.namespace + "/" + a.name;
    const old = rows.get(key);
    if (old) {
      const tr = row(a);
      old.replaceWith(tr);
      rows.set(key, tr);
    }
  });
  es.addEventListener("delete", (e) => {
    const a = JSON.parse(e.data);
    const key = a.namespace + "/" + a.name;
    rows.get(key)?.remove();
    rows.delete(key);
  });
  es.addEventListener("end", () => es.close());
  onLeave(() => es.close());
}

function row(a) {
  const href = "#/apps/" + encodeURIComponent(a.namespace) + "/" + encodeURIComponent(a.name);
  const flags = [
    a.policyDenied && badge("policy denied", "degraded"),
    a.verificationFailed && badge("verification failed", "degraded"),
    a.driftReverted && badge("drift reverted", "progressing"),
    a.suspended && badge("suspended", "suspended"),
  ];
  return h("tr", { "data-app": a.namespace + "/" + a.name },
    h("th", { scope: "row" }, h("a", { href }, a.namespace + "/" + a.name)),
    h("td", {}, a.project),
    h("td", {}, badge(a.sync), a.syncReason ? h("span", { class: "muted" }, " " + a.syncReason) : null),
    h("td", {}, badge(a.health)),
    h("td", { class: "mono" }, short(a.newestRevision)),
    h("td", { class: "mono" }, short(a.appliedRevision)),
    h("td", {}, authorName(a.author)),
    h("td", {}, when(a.lastSyncAt)),
    h("td", {}, flags),
  );
}
