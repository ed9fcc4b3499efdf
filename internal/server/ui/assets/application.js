// application.js: one Application: what it is, what a sync would do (the
// plan before the button), its objects as a tree, and the actions the user
// may take.
import { get, post, appPath } from "./api.js";
import { h, render, short, authorName, badge, when, toast, busy, liveStatus } from "./dom.js";
import { onLeave } from "./page.js";
import { historySection } from "./history.js";
import { diffView } from "./diff.js";
import { treeSection } from "./tree.js";

export async function applicationView(ns, name, params) {
  let detail;
  try {
    detail = await get(appPath(ns, name));
  } catch (err) {
    render(h("h1", {}, ns + "/" + name), h("p", { class: "error", role: "alert" }, err.message), h("a", { href: "#/" }, "All Applications"));
    return;
  }
  const plan = h("section", { class: "plan", "aria-labelledby": "plan-h" });
  const tree = h("section", { class: "tree", "aria-labelledby": "tree-h" });
  const summary = h("section", { class: "summary" });
  const draw = (d) => summary.replaceChildren(...summaryParts(d, plan));
  draw(detail);
  plan.append(h("h2", { id: "plan-h" }, "What a sync would do"),
    h("button", { type: "button", onclick: () => showPlan(ns, name, detail, plan) }, "Preview the sync"));
  const history = h("section");
  render(h("p", {}, h("a", { href: "#/" }, "← All Applications")), summary, plan, tree, history);
  treeSection(ns, name, tree, params.get("unhealthy") === "true");
  historySection(ns, name).then((s) => history.replaceWith(s));

  // Live: the summary follows the Application.
  const es = new EventSource("/api/v1/stream" + appPath(ns, name));
  summary.after(liveStatus(es));
  es.addEventListener("upsert", (e) => {
    detail = { ...JSON.parse(e.data), can: detail.can };
    draw(detail);
    // Once the controller has handled the sync asked for here, the whole
    // page (plan, tree, history) is drawn again from what is now true.
    if (pending && (detail.application.status || {}).lastHandledSyncRequest === pending) {
      pending = null;
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    }
  });
  es.addEventListener("delete", () => toast("This Application was deleted.", "error"));
  es.addEventListener("end", () => es.close());
  onLeave(() => es.close());
}

function summaryParts(d, plan) {
  const a = d.application, s = d.summary, st = a.status || {};
  const applied = st.lastAppliedRevision;
  const ns = a.metadata.namespace, name = a.metadata.name;
  // A live update redraws the buttons: one whose request is still running
  // is drawn disabled.
  const act = (action, label) => d.can && d.can[action]
    ? h("button", { type: "button", "data-action": action, disabled: inFlight.has(action), onclick: (e) => busy(e.currentTarget, () => request(ns, name, action)) }, label) : null;
  const conditions = (st.conditions || []).map((c) => h("li", {}, h("strong", {}, c.type + ": "), `${c.status} ${c.reason || ""} `, h("span", { class: "muted" }, c.message || "")));
  return [
    h("h1", {}, ns + "/" + name, " ", badge(s.sync), " ", badge(s.health)),
    h("dl", { class: "facts" },
      h("dt", {}, "Source"), h("dd", { class: "mono" }, `${s.repo} ${s.path || ""}`),
      h("dt", {}, "Destination"), h("dd", {}, `${s.cluster} / ${s.destNamespace}`),
      h("dt", {}, "Project"), h("dd", {}, s.project),
      h("dt", {}, "Newest commit"), h("dd", { class: "mono" }, short(s.newestRevision)),
      h("dt", {}, "Applied"), h("dd", {}, applied ? [h("span", { class: "mono" }, short(applied.commit)), ` “${applied.subject || ""}” by ${authorName(applied.author)}`] : "–"),
      h("dt", {}, "Last sync"), h("dd", {}, when(s.lastSyncAt)),
    ),
    h("ul", { class: "conditions" }, conditions),
    h("div", { class: "actions", role: "group", "aria-label": "Actions" },
      act("refresh", "Refresh"), s.suspended ? act("resume", "Resume") : act("suspend", "Suspend")),
  ];
}

// inFlight are the actions whose request has not come back.
const inFlight = new Set();

async function request(ns, name, action) {
  inFlight.add(action);
  try {
    const r = await post(appPath(ns, name) + "/" + action);
    toast(`${action} requested by ${r.actor}`);
  } catch (err) {
    toast(err.message, "error");
  } finally {
    inFlight.delete(action);
    // The button pressed may have been redrawn meanwhile: enable the one shown.
    for (const b of document.querySelectorAll(`.actions button[data-action="${action}"]`)) b.disabled = false;
  }
}

// showPlan previews the sync and shows it, step by step, with the button
// that syncs exactly that commit of that spec.
async function showPlan(ns, name, detail, plan) {
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Fetching, rendering and comparing with the cluster…"));
  // The button pressed goes away: the focus moves to the plan's heading, not
  // back to the top of the page.
  const heading = h("h2", { id: "plan-h", tabindex: "-1" }, "What a sync would do");
  plan.replaceChildren(heading, body);
  heading.focus();
  let pv;
  try {
    pv = await get(appPath(ns, name) + "/preview");
  } catch (err) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  const parts = [
    h("p", {}, "Commit ", h("span", { class: "mono" }, short(pv.revision)), ` “${pv.subject || ""}” by ${authorName(pv.author)}`,
      pv.rollback ? [" ", badge("rollback", "progressing")] : null),
    h("ul", { class: "verdicts" },
      h("li", {}, "Signature: ", pv.verifiedBy ? ["verified with ", h("span", { class: "mono" }, pv.verifiedBy)] : "not required"),
      h("li", {}, "Approvals: ", pv.approvers && pv.approvers.length ? pv.approvers.join(", ") : "none counted"),
      h("li", {}, "Policy: ", pv.refused ? badge(pv.refused.reason, "degraded") : badge("allowed", "healthy"))),
  ];
  if (pv.refused) {
    parts.push(h("p", { class: "error", role: "alert" }, pv.refused.message));
  } else if (pv.inSync) {
    parts.push(h("p", {}, "In sync: a sync would change nothing."));
  } else {
    const counts = Object.entries(pv.counts || {}).map(([k, v]) => `${v} ${k}`).join(", ");
    parts.push(h("p", {}, counts));
    for (const hook of pv.hooks || []) parts.push(h("p", {}, badge("hook", "progressing"), ` ${hook.phase} ${hook.kind}/${hook.name} (wave ${hook.wave})`));
    for (const w of pv.waves || []) {
      parts.push(h("h3", {}, `Wave ${w.wave}`));
      for (const s of w.steps) parts.push(step(s));
    }
  }
  if (detail.can && detail.can.sync && !pv.refused) {
    parts.push(h("button", { type: "button", class: "primary", onclick: (e) => busy(e.currentTarget, () => sync(ns, name, pv)) }, `Sync ${short(pv.revision)}`));
  }
  body.replaceChildren(...parts);
  body.removeAttribute("aria-busy");
}

// step is one object of the plan; its diff is drawn when it is opened, so a
// first sync of thousands of objects lists them at once.
function step(s) {
  const id = [s.kind, s.namespace, s.name].filter(Boolean).join("/");
  const fields = s.changedFields && s.changedFields.length ? h("span", { class: "muted" }, " " + s.changedFields.join(", ")) : null;
  let drawn = false;
  const el = h("details", { class: "step " + s.action.toLowerCase(), ontoggle: () => {
    if (!el.open || drawn || !s.diff) return;
    drawn = true;
    el.append(diffView(s.diff, { title: "Live → Git" }));
  } },
    h("summary", {}, badge(s.action, s.action.toLowerCase()), " ", id, s.adopted ? " (adopted)" : "", fields),
    s.reason ? h("p", {}, s.reason) : null);
  return el;
}

// pending is the sync request this page made and waits to see handled.
let pending = null;

async function sync(ns, name, pv) {
  try {
    const r = await post(appPath(ns, name) + "/sync", { revision: pv.revision, generation: pv.generation });
    pending = r.request;
    toast(`sync of ${short(pv.revision)} requested by ${r.actor}`);
  } catch (err) {
    toast(err.message, "error");
  }
}
