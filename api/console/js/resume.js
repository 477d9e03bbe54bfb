// The form a paused run asks for, built from its pauseSignal: collect_inputs fields
// (typed inputs) or request_user_action actions (one button per allowed value).
import { h, uid } from "./dom.js";

function input(f) {
  const id = uid("in");
  const attrs = { id, name: f.name, required: f.required || false };
  let control;
  if (f.type === "select" || Array.isArray(f.options)) {
    control = h("select", attrs, f.required ? null : h("option", { value: "" }, "—"),
      (f.options || []).map((o) => h("option", { value: String(o) }, String(o))));
  } else if (f.type === "boolean") {
    control = h("input", { ...attrs, type: "checkbox", required: false });
  } else if (f.type === "text") {
    control = h("textarea", attrs);
  } else {
    const types = { integer: "number", number: "number", email: "email", date: "date",
      datetime: "datetime-local" };
    control = h("input", { ...attrs, type: types[f.type] || "text",
      step: f.type === "number" ? "any" : undefined });
  }
  return [h("label", { for: id }, `${f.label || f.name}${f.required ? " (required)" : ""}`), control];
}

function value(f, control) {
  if (f.type === "boolean") return control.checked;
  if (control.value === "") return undefined;
  if (f.type === "integer") return parseInt(control.value, 10);
  if (f.type === "number") return Number(control.value);
  return control.value;
}

// onAnswer(body) posts the answer; the form shows what the API said about it.
export function resumeForm(signal, onAnswer) {
  const head = [h("h2", { id: "resume-h" }, signal.title || "This run waits for an answer"),
    signal.message ? h("p", {}, signal.message) : null];
  if (signal.type === "request_user_action") {
    return h("section", { "aria-labelledby": "resume-h" }, ...head,
      (signal.actions || []).map((a) => h("div", { class: "actions", role: "group",
        "aria-label": a.label || a.id },
      a.values.map((v, i) => h("button", { type: "button", "data-value": String(v),
        onclick: () => onAnswer({ type: "request_user_action", actionId: a.id, actionValue: v }) },
      (a.valueLabels && a.valueLabels[i]) || String(v))))));
  }
  const fields = signal.fields || [];
  const controls = [];
  const form = h("form", { class: "stack", "aria-labelledby": "resume-h" },
    fields.map((f) => {
      const [label, control] = input(f);
      controls.push([f, control]);
      return [label, control];
    }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Resume")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = {};
    for (const [f, control] of controls) {
      const v = value(f, control);
      if (v !== undefined) data[f.name] = v;
    }
    onAnswer({ type: "collect_inputs", data });
  });
  return h("section", {}, ...head, form);
}
