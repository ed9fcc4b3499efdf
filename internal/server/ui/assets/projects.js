// projects.js: each Project as a section: its rules in words, as the policy
// gate applies them (the API's sentences, the same as `lockstep get project`),
// and its Applications counted by sync and health, each count a link to the
// overview filtered to them. The built-in default shows while no Project
// named default exists.
import { get } from "./api.js";
import { h, render, badge } from "./dom.js";

export async function projectsView() {
  let list;
  try {
    list = await get("/projects");
  } catch (err) {
    render(h("h1", {}, "Projects"), h("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  const projects = list.items.map((p) => ({ name: p.metadata.name, description: (p.spec || {}).description, rules: p.rules, apps: p.applications }));
  if (list.builtInDefault) projects.push({ ...list.builtInDefault, apps: list.builtInDefault.applications, builtIn: true });
  projects.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  render(h("h1", {}, "Projects"),
    h("p", { class: "muted" }, "What each Project lets its Applications do, as the policy gate checks it before anything is applied."),
    projects.length ? projects.map(projectSection) : h("p", { class: "muted" }, "No Project you may read."));
}

function projectSection(p) {
  const id = "project-" + p.name;
  return h("section", { class: "project", "aria-labelledby": id },
    h("h2", { id }, p.name, p.builtIn ? h("span", { class: "muted" }, " (built in: no Project of this name exists)") : null),
    p.description ? h("p", {}, p.description) : null,
    h("h3", {}, "Rules"),
    h("ul", {}, (p.rules || []).map((r) => h("li", {}, r))),
    h("h3", {}, "Applications"),
    applications(p.name, p.apps || {}));
}

// applications counts the Project's Applications that the caller may read,
// each count a link to the overview filtered to them.
function applications(project, counts) {
  if (!counts.total) return h("p", { class: "muted" }, "None that you may read.");
  const link = (extra, ...text) => h("a", { href: "#/?" + new URLSearchParams({ project, ...extra }) }, ...text);
  const by = (key, label) => {
    const entries = Object.entries(counts[key] || {}).sort(([a], [b]) => (a < b ? -1 : 1));
    return h("p", {}, label + ": ", entries.map(([state, n], i) => [i ? ", " : "", link({ [key]: state }, `${n} `, badge(state))]));
  };
  return [
    h("p", {}, link({}, counts.total === 1 ? "1 Application" : `${counts.total} Applications`)),
    by("sync", "By sync"), by("health", "By health"),
  ];
}
