// page.js: what every view shares with the router: who is logged in, the
// header that shows it, and what to close when the view is left. Views import
// this, never the router, so the router is the only module that knows them.
import { call } from "./api.js";
import { h } from "./dom.js";

export const session = { who: null };

// leave is called before a view is replaced: it closes the view's streams.
let leave = () => {};
export function onLeave(fn) { leave = fn; }

// leaving runs and forgets what the view left behind (the router calls it
// before drawing the next view).
export function leaving() {
  leave();
  leave = () => {};
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
