// Small DOM helpers: every node is built with createElement/textContent, never innerHTML,
// so data from the API (names, outputs, errors) can never become markup.
const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text);
}

export function table(headers, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))
        : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "Nothing yet")))));
}

export function pretty(value) {
  return h("pre", {}, value === undefined || value === null ? "—"
    : typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

let seq = 0;
export function uid(prefix) {
  seq += 1;
  return `${prefix}-${seq}`;
}

// A labelled input: the label's `for` names the input's id (what screen readers announce).
export function field(labelText, input) {
  input.id = input.id || uid("f");
  return [h("label", { for: input.id }, labelText), input];
}

export function say(message, isError = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = isError ? "status error" : "status";
}
