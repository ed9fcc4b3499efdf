// login.js: local accounts and single sign-on.
import { get, post } from "./api.js";
import { h, render } from "./dom.js";
import { session, header } from "./page.js";

export async function loginView(params) {
  const next = safeNext(params.get("next"));
  const error = h("p", { class: "error", role: "alert" }, params.get("expired") ? "Your session has ended: log in again." : "");
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await post("/session", { username: user.value, password: pass.value });
      session.who = await get("/session");
      header();
      location.hash = "#" + next;
    } catch (err) {
      error.textContent = err.message;
      pass.value = "";
      pass.focus();
    }
  } },
    h("h1", {}, "Log in to Lockstep"),
    h("label", { for: "username" }, "Account"), user,
    h("label", { for: "password" }, "Password"), pass,
    h("button", { type: "submit" }, "Log in"),
    error,
  );
  render(form);
  user.focus();
  try {
    const cfg = await get("/auth/config");
    if (cfg && cfg.sso) {
      // Back from the provider to the page asked for, as after a password.
      form.append(h("p", { class: "or" }, "or"),
        h("a", { class: "button", href: "/auth/login?" + new URLSearchParams({ return: "/#" + next }) }, "Log in with single sign-on"));
    }
  } catch { /* no single sign-on offered */ }
}

// safeNext keeps a return path inside the UI.
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/";
}
