// One workflow: its graph, versions, schedule, ingest token (shown on request, rotatable),
// health figures and runs per hour.
import { ApiFailure, get, post } from "./api.js";
import { drawHourly } from "./chart.js";
import { badge, h, say, table, when } from "./dom.js";
import { drawGraph } from "./graph.js";

async function optional(path) {
  try {
    return await get(path);
  } catch (err) {
    if (err instanceof ApiFailure && (err.status === 404 || err.status === 403)) return null;
    throw err;
  }
}

function facts(pairs, id) {
  return h("dl", { class: "facts", id }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function tokenSection(id) {
  const out = h("div", { "aria-live": "polite" });
  const show = (body) => out.replaceChildren(facts([
    ["Token", body.token || body.maskedToken], ["URL", body.url || "shown only when made"],
    ["Signed", body.verify ? "yes" : "no"], ["Created", when(body.createdAt)]], "token-facts"));
  const reveal = h("button", { type: "button", class: "secondary" }, "Show ingest token");
  const rotate = h("button", { type: "button", class: "danger" }, "Rotate token");
  reveal.addEventListener("click", async () => {
    try { show(await get(`/api/workflows/${encodeURIComponent(id)}/webhook-token`)); } catch (err) { say(err.message, true); }
  });
  rotate.addEventListener("click", async () => {
    if (!window.confirm("Rotate the ingest token? The old one stops working.")) return;
    try {
      show(await post(`/api/workflows/${encodeURIComponent(id)}/webhook-token`, {}));
      say("Ingest token rotated: copy it now, it is shown once");
    } catch (err) { say(err.message, true); }
  });
  return h("section", { "aria-labelledby": "token-h" }, h("h2", { id: "token-h" }, "Ingest token"),
    h("div", { class: "actions" }, reveal, rotate), out);
}

export async function workflowPage(main, { id }) {
  const base = `/api/workflows/${encodeURIComponent(id)}`;
  const wf = await get(base);
  const run = h("button", { type: "button" }, "Start a run");
  run.addEventListener("click", async () => {
    try {
      const started = await post(`${base}/run`, { input: {} });
      location.hash = `#/runs/${encodeURIComponent(started.runId)}`;
    } catch (err) { say(err.message, true); }
  });
  main.append(h("h1", {}, wf.name || wf.id),
    h("section", {}, facts([["Id", wf.id], ["Status", badge(wf.status)],
      ["Enabled", wf.enabled ? "yes" : "no"], ["Trigger", wf.trigger_type],
      ["Version", `${wf.version} (published ${wf.publishedVersion ?? "none"})`],
      ["Updated", when(wf.updatedAt)]]),
    h("div", { class: "actions" }, run,
      h("a", { class: "button", href: `#/runs?workflow=${encodeURIComponent(wf.id)}` }, "Its runs"))),
    h("section", { "aria-labelledby": "graph-h" }, h("h2", { id: "graph-h" }, "Graph"),
      h("div", { class: "table-wrap" }, drawGraph(wf))));
  const [versions, schedule, health] = await Promise.all([
    get(`${base}/versions?limit=20`), optional(`${base}/schedule`), optional(`${base}/health`)]);
  main.append(
    h("section", { "aria-labelledby": "health-h" }, h("h2", { id: "health-h" }, "Health"),
      health ? facts([["Runs 24 h", String(health.totalRuns24h)],
        ["Succeeded 24 h", String(health.successRuns24h)], ["Failed 24 h", String(health.failedRuns24h)],
        ["Success rate (30 d)", health.successRatePercent == null ? "—" : `${health.successRatePercent} %`],
        ["Average duration", health.averageDurationMs == null ? "—" : `${health.averageDurationMs} ms`],
        ["Last run", `${when(health.lastRunAt)} ${health.lastStatus || ""}`],
        ["Last error", health.lastError || "—"]]) : h("p", { class: "muted" }, "No health figures."),
      h("h3", {}, "Runs per hour, last 24 h"), drawHourly(health)),
    h("section", { "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "Versions"),
      table(["Version", "Steps", "Created", "By", ""], versions.data.map((v) => [String(v.version),
        String(v.stepCount), when(v.createdAt), v.createdBy || "—",
        [v.latest ? "latest " : "", v.published ? "published" : ""].join("")]))),
    h("section", { "aria-labelledby": "schedule-h" }, h("h2", { id: "schedule-h" }, "Schedule"),
      schedule ? facts([["Cron", schedule.cron_expression], ["Time zone", schedule.timezone],
        ["Enabled", schedule.enabled ? "yes" : "no"], ["Next run", when(schedule.next_run_at)],
        ["Last run", when(schedule.last_run_at)]]) : h("p", { class: "muted" }, "No schedule.")),
    tokenSection(wf.id));
}
