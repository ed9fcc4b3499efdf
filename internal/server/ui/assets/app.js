// app.js: the router. The hash holds the page and its parameters, so every
// view has a link, the back button works, and the server serves one page.
import { get } from "./api.js";
import { h, render } from "./dom.js";
import { loginView } from "./login.js";
import { overviewView } from "./overview.js";
import { applicationView } from "./application.js";
import { resourceView } from "./resource.js";
import { auditView } from "./audit.js";
import { projectsView } from "./projects.js";
import { session, header, leaving } from "./page.js";

async function route() {
  leaving();
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
  const app = path.match(/^\/apps\/([^/]+)\/([^/]+)$/);
  try {
    if (res) return await resourceView(decodeURIComponent(res[1]), decodeURIComponent(res[2]), params);
    if (app) return await applicationView(decodeURIComponent(app[1]), decodeURIComponent(app[2]), params);
  } catch (err) {
    if (!(err instanceof URIError)) throw err;
    // A hand-made address with a broken escape: not found, not a stuck page.
  }
  if (path === "/") return overviewView(params);
  if (path === "/audit") return auditView(params);
  if (path === "/projects") return projectsView();
  render(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "All Applications")));
}

window.addEventListener("hashchange", route);
route();
