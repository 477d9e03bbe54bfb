// The workflows list: status, search (server-side `search`), status filter, archived toggle.
import { get } from "./api.js";
import { badge, field, h, table, when } from "./dom.js";
import { query } from "./router.js";

const STATUSES = ["", "draft", "testing", "published", "archived", "active", "paused"];

export async function workflowsPage(main) {
  const q = query();
  const search = h("input", { type: "search", name: "search", value: q.get("search") || "" });
  const status = h("select", { name: "status" },
    STATUSES.map((v) => h("option", { value: v, selected: v === (q.get("status") || "") },
      v || "any")));
  const archived = h("input", { type: "checkbox", name: "includeArchived", id: "wf-archived",
    checked: q.get("includeArchived") === "true" });
  const form = h("form", { class: "filters", role: "search" },
    h("div", {}, ...field("Search", search)),
    h("div", {}, ...field("Status", status)),
    h("label", { class: "inline", for: "wf-archived" }, archived, "Include archived"),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (search.value) next.set("search", search.value);
    if (status.value) next.set("status", status.value);
    if (archived.checked) next.set("includeArchived", "true");
    location.hash = `#/workflows?${next}`;
  });
  const results = h("div", { "aria-live": "polite" });
  main.append(h("h1", {}, "Workflows"), h("section", {}, form), h("section", {}, results));
  const params = new URLSearchParams({ limit: "100" });
  for (const key of ["search", "status", "includeArchived"]) if (q.get(key)) params.set(key, q.get(key));
  const body = await get(`/api/workflows?${params}`);
  results.append(h("p", { class: "muted" }, `${body.total} workflow(s)`),
    table(["Name", "Status", "Enabled", "Trigger", "Version", "Updated"],
      body.data.map((w) => [h("a", { href: `#/workflows/${encodeURIComponent(w.id)}` }, w.name || w.id),
        badge(w.status), w.enabled ? "yes" : "no", w.trigger_type, String(w.version),
        when(w.updatedAt)])));
}
