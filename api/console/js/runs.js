// The live runs list: polled every 2 s with If-None-Match (a 304 costs the worker nothing
// and changes nothing on screen), filtered by status and workflow.
import { poller } from "./api.js";
import { badge, field, h, say, table, when } from "./dom.js";
import { every, query } from "./router.js";

const STATUSES = ["", "pending", "running", "paused", "retrying", "completed", "failed",
  "cancelled", "terminated"];

export async function runsPage(main) {
  const q = query();
  const status = h("select", { name: "status" },
    STATUSES.map((v) => h("option", { value: v, selected: v === (q.get("status") || "") }, v || "any")));
  const workflow = h("input", { type: "text", name: "workflow", value: q.get("workflow") || "",
    placeholder: "workflow id" });
  const form = h("form", { class: "filters", role: "search" },
    h("div", {}, ...field("Status", status)), h("div", {}, ...field("Workflow", workflow)),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (status.value) next.set("status", status.value);
    if (workflow.value.trim()) next.set("workflow", workflow.value.trim());
    location.hash = `#/runs?${next}`;
  });
  const list = h("div", { id: "runs-list" });
  main.append(h("h1", {}, "Runs"), h("section", {}, form),
    h("section", { "aria-label": "Runs, refreshed every 2 seconds" }, list));
  const params = new URLSearchParams({ limit: "50" });
  if (q.get("status")) params.set("status", q.get("status"));
  if (q.get("workflow")) params.set("workflow_id", q.get("workflow"));
  const next = poller(`/api/workflows/runs?${params}`);
  const refresh = async () => {
    try {
      const body = await next();
      if (body === null) return; // 304: nothing new
      list.replaceChildren(h("p", { class: "muted" }, `${body.total}${body.totalCapped ? "+" : ""} run(s)`),
        table(["Run", "Workflow", "Status", "Trigger", "Started", "Duration"],
          body.data.map((r) => [h("a", { href: `#/runs/${encodeURIComponent(r.runId)}` }, r.runId),
            h("a", { href: `#/workflows/${encodeURIComponent(r.workflowId)}` }, r.workflowId),
            badge(r.status), r.trigger || "—", when(r.startTime),
            r.duration == null ? "—" : `${r.duration} ms`])));
    } catch (err) {
      if (err.status !== 401) say(err.message, true);
    }
  };
  await refresh();
  every(2000, refresh);
}
