// audit.js: the ledger across Applications, with its chain's state.
import { get, query } from "./api.js";
import { h, render, short, authorName, when, badge } from "./dom.js";
import { chainStatus } from "./history.js";

export async function auditView(params) {
  const app = params.get("app") || "";
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    location.hash = "#/audit?" + new URLSearchParams({ app: form.elements.app.value.trim() });
  } }, h("label", {}, "Application (namespace/name)", h("input", { name: "app", type: "search", value: app })), h("button", { type: "submit" }, "Show"));
  let recs = [];
  let error = null;
  try {
    recs = (await get("/records" + query({ app, limit: 100 }))).records;
  } catch (err) {
    error = h("p", { class: "error", role: "alert" }, err.message);
  }
  render(h("h1", {}, "Audit ledger"), await chainStatus(), form, error,
    h("table", { class: "apps" },
      h("thead", {}, h("tr", {}, ["#", "When", "Event", "Application", "Commit", "Author", "By", "Result"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, recs.map((r) => h("tr", {},
        h("td", {}, r.seq), h("td", {}, when(r.time)), h("td", {}, r.event),
        h("td", {}, r.application || "–"), h("td", { class: "mono" }, short(r.revision)),
        h("td", {}, authorName((r.commit || {}).author)), h("td", {}, r.actor),
        h("td", {}, r.result ? badge(r.result, r.result === "Succeeded" ? "healthy" : r.result === "Failed" ? "degraded" : "progressing") : "–",
          r.message ? h("div", { class: "muted" }, r.message) : null))))));
}
