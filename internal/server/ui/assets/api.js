// api.js: the UI's only way to the server. Every call goes to /api/v1 with
// the session cookie; a 401 sends the user to the login page.

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function call(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch("/api/v1" + path, opts);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const msg = (data && data.error) || text || resp.statusText;
    if (resp.status === 401 && !path.startsWith("/session")) {
      location.hash = "#/login?expired=1&next=" + encodeURIComponent(location.hash.slice(1) || "/");
    }
    throw new APIError(resp.status, msg);
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "" && v !== false) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

export function appPath(ns, name) {
  return "/applications/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name);
}
