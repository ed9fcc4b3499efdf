// history.js: an Application's syncs from the audit ledger, the chain's
// state, and blame of one live object.
import { get, query } from "./api.js";
import { h, short, authorName, when, badge } from "./dom.js";

// historySection lists the Application's syncs and denials, newest first:
// the commit, its author and approvers, the key that signed it, who or what
// triggered it, the result, what changed and how long it took.
export async function historySection(ns, name) {
  const section = h("section", { "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "History"));
  let recs;
  try {
    recs = (await get("/records" + query({ app: ns + "/" + name, kind: "sync,denied", limit: 50 }))).records;
  } catch (err) {
    section.append(h("p", { class: "error" }, err.message));
    return section;
  }
  if (!recs.length) {
    section.append(h("p", { class: "muted" }, "No sync in the ledger yet."));
    return section;
  }
  section.append(h("table", { class: "apps" },
    h("thead", {}, h("tr", {}, ["#", "When", "Commit", "Author", "Approved by", "Signed with", "Trigger", "By", "Result", "Changes", "Took"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, recs.map((r) => {
      const c = r.commit || {};
      const changes = (r.changes || []).length;
      return h("tr", {},
        h("td", {}, r.seq), h("td", {}, when(r.time)),
        h("td", {}, h("span", { class: "mono" }, short(r.revision)), c.subject ? " " + c.subject : ""),
        h("td", {}, authorName(c.author)),
        h("td", {}, (c.approvedBy || []).map(authorName).join(", ") || "–"),
        h("td", { class: "mono" }, c.trustedKey || "–"),
        h("td", {}, r.trigger || "–"), h("td", {}, r.actor),
        h("td", {}, badge(r.result, r.result === "Succeeded" ? "healthy" : "degraded"), r.reason ? " " + r.reason : "", r.message ? h("div", { class: "muted" }, r.message) : null),
        h("td", {}, changes), h("td", {}, took(r.durationMs)));
    }))));
  return section;
}

// took says how long a sync took: milliseconds under a second.
function took(ms) {
  if (ms === undefined || ms === null) return "–";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// blameSection blames the fields of one live object: each with the sync,
// commit, author and approvers that set it, and a flag when it drifted.
export async function blameSection(key) {
  const section = h("section", { "aria-labelledby": "blame-h" }, h("h2", { id: "blame-h" }, "Who set each field"));
  let b;
  try {
    b = await get("/blame" + query({ kind: key.group ? key.kind.toLowerCase() + "." + key.group : key.kind.toLowerCase(), namespace: key.namespace, name: key.name }));
  } catch (err) {
    section.append(h("p", { class: "muted" }, err.message));
    return section;
  }
  section.append(h("table", { class: "apps" },
    h("thead", {}, h("tr", {}, ["Field", "Value", "Set by", "Commit", "Author", "Approved by", "Notes"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, b.fields.map((f) => {
      const s = f.setBy || {}, c = s.commit || {};
      return h("tr", { "data-field": f.path, class: (f.flags || []).length ? "flagged" : null },
        h("td", { class: "mono" }, f.path), h("td", { class: "mono" }, f.value || ""),
        h("td", {}, s.seq ? `#${s.seq} ${when(s.time)}` : "–"),
        h("td", { class: "mono" }, short(s.revision)),
        h("td", {}, authorName(c.author)),
        h("td", {}, (c.approvedBy || []).map(authorName).join(", ") || "–"),
        h("td", { class: "notes" }, (f.flags || []).map((x) => h("div", { class: "flag" }, "⚠ " + x)),
          (f.reverted || []).map((x) => h("div", { class: "muted" }, "↺ " + x))));
    }))));
  return section;
}

// chainStatus says how far the ledger verifies.
export async function chainStatus() {
  try {
    const rep = await get("/verify");
    return rep.problem
      ? h("p", { class: "error", role: "alert" }, `Ledger: broken at record ${rep.firstBadSeq}: ${rep.problem}`)
      : h("p", {}, badge("verified", "healthy"), ` Ledger verified up to record ${rep.last} (${rep.records} records, key ${rep.key})`,
        rep.verifiedAt ? h("span", { class: "muted" }, `, at ${when(rep.verifiedAt)}`) : null);
  } catch (err) {
    return h("p", { class: "muted" }, "Ledger: " + err.message);
  }
}
