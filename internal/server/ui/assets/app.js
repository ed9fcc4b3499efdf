// app.js: the router. The hash holds the page and its parameters, so every
// view has a link, the back button works, and the server serves one page.
import { get, call } from "./api.js";
import { h, render } from "./dom.js";
import { loginView } from "./login.js";
import { overviewView } from "./overview.js";
import { applicationView } from "./application.js";
import { resourceView } from "./resource.js";
import { auditView } from "./audit.js";
import { projectsView } from "./projects.js";

export const session = { who: null };

// leave is called before a view is replaced: it closes the view's streams.
let leave = () => {};
export function onLeave(fn) { leave = fn; }

async function route() {
  leave();
  leave = () => {};
  const [path, qs] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(qs || "");
  if (path === "/login") return loginView(params);
  if (!session.who) {
    try {
      session.who = await get("/session");
    } catch {
      location.hash = "#/login?next=" + encodeURIComponent(location.hash.slice(1) || "/");
      return;
    }
    header();
  }
  const res = path.match(/^\/apps\/([^/]+)\/([^/]+)\/resource$/);
  if (res) return resourceView(decodeURIComponent(res[1]), decodeURIComponent(res[2]), params);
  const app = path.match(/^\/apps\/([^/]+)\/([^/]+)$/);
  if (app) return applicationView(decodeURIComponent(app[1]), decodeURIComponent(app[2]), params);
  if (path === "/") return overviewView(params);
  if (path === "/audit") return auditView(params);
  if (path === "/projects") return projectsView();
  render(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "All Applications")));
}

// header shows who is logged in and the way out.
export function header() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session.who) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  nav.replaceChildren(h("a", { href: "#/" }, "Applications"), " ", h("a", { href: "#/projects" }, "Projects"), " ", h("a", { href: "#/audit" }, "Audit"));
  who.replaceChildren(
    h("span", { title: "logged in with " + session.who.method }, session.who.name),
    h("button", { type: "button", class: "link", onclick: logout }, "Log out"),
  );
}

async function logout() {
  try { await call("DELETE", "/session"); } catch { /* over already */ }
  session.who = null;
  header();
  location.hash = "#/login";
}

window.addEventListener("hashchange", route);
route();
