// dom.js: building elements without innerHTML, so that no text from the API
// is ever parsed as HTML.

// h creates an element: h("a", {href: "#/"}, "text", child, ...). Attributes
// starting with "on" are event handlers; others are set as attributes.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// fill replaces el's children, skipping what is null or false as h does
// (replaceChildren would write them as text).
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// render replaces the main area's content and moves focus there, so that
// keyboard and screen-reader users land on the new page.
export function render(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
  main.focus({ preventScroll: true });
}

// busy runs fn with button disabled, so that a double click sends one
// request, not two.
export async function busy(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.disabled = false;
  }
}

// liveStatus is a line that says when a page's live updates stop (the
// server ended the stream, or the session ended): the page then shows what
// was true, not what is.
export function liveStatus(es) {
  const line = h("p", { class: "muted live", role: "status" });
  const stopped = () => { line.textContent = "Live updates stopped: reload the page to see what changed since."; };
  es.addEventListener("end", stopped);
  es.addEventListener("reset", () => { line.textContent = "Live updates fell behind and missed some changes: reload the page to see them."; });
  es.addEventListener("error", () => { if (es.readyState === EventSource.CLOSED) stopped(); });
  return line;
}

// toast shows a short message in the live region.
export function toast(text, kind) {
  const t = document.getElementById("toast");
  t.className = kind || "";
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ""; t.className = ""; }, 6000);
}

export function short(hash) {
  return hash ? hash.slice(0, 12) : "–";
}

export function authorName(a) {
  return a ? a.replace(/\s*<[^>]*>$/, "") : "–";
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? "–" : d.toLocaleString();
}

// badge is a coloured status word.
export function badge(text, kind) {
  return h("span", { class: "badge " + (kind || String(text).toLowerCase()) }, text);
}
