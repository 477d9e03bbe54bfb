// One run: its facts, the timeline, each step execution's request/output/error (as the
// API gives them: secrets already redacted), and cancel / terminate / resume / re-run.
import { ApiFailure, get, post } from "./api.js";
import { badge, h, pretty, say, table, when } from "./dom.js";
import { resumeForm } from "./resume.js";
import { every } from "./router.js";
import { drawTimeline } from "./timeline.js";

const OVER = new Set(["completed", "failed", "cancelled", "terminated"]);

function detail(step) {
  return h("div", {}, h("h3", {}, `${step.stepId} — attempt ${step.attempt} (${step.status})`),
    h("h4", {}, "Request"), pretty(step.request), h("h4", {}, "Output"), pretty(step.output),
    h("h4", {}, "Error"), pretty(step.error));
}

export async function runPage(main, { id }) {
  const base = `/api/workflows/runs/${encodeURIComponent(id)}`;
  const view = h("div", {});
  const panel = h("section", { id: "step-detail", "aria-live": "polite", "aria-label": "Step details" },
    h("p", { class: "muted" }, "Choose a step execution to see its request, output and error."));
  let run = null;
  let selected = null;
  let shown = "";

  const act = async (label, path, body) => {
    try {
      const answer = await post(`${base}/${path}`, body);
      say(`${label}: ${answer.status || "sent"}`);
      if (answer.runId && answer.runId !== id) {
        location.hash = `#/runs/${encodeURIComponent(answer.runId)}`;
        return;
      }
      await refresh(true);
    } catch (err) {
      say(err instanceof ApiFailure && err.status === 404 && path === "rerun"
        ? "Re-run is not available on this worker (404)" : `${label} failed: ${err.message}`, true);
    }
  };
  const select = (i) => {
    selected = i;
    panel.replaceChildren(detail(run.stepExecutionHistory[i]));
  };

  const render = () => {
    const over = OVER.has(run.status);
    const buttons = h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", disabled: over,
        onclick: () => act("Cancel", "cancel", {}) }, "Cancel"),
      h("button", { type: "button", class: "danger", disabled: over,
        onclick: () => act("Terminate", "terminate", {}) }, "Terminate"),
      h("button", { type: "button", onclick: () => act("Re-run", "rerun", {}) }, "Re-run"));
    const steps = run.stepExecutionHistory || [];
    view.replaceChildren(...[
      h("section", {}, h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", { id: "run-status" }, badge(run.status)),
        h("dt", {}, "Workflow"), h("dd", {}, h("a", { href: `#/workflows/${encodeURIComponent(run.workflowId)}` },
          `${run.workflowId} v${run.workflowVersion}`)),
        h("dt", {}, "Trigger"), h("dd", {}, run.trigger || "—"),
        h("dt", {}, "Started"), h("dd", {}, when(run.startTime)),
        h("dt", {}, "Ended"), h("dd", {}, when(run.endTime)),
        h("dt", {}, "Error"), h("dd", {}, run.error || "—")), buttons),
      run.status === "paused" && run.pauseSignal
        ? resumeForm(run.pauseSignal, (body) => act("Resume", "resume", body)) : null,
      h("section", { "aria-labelledby": "timeline-h" }, h("h2", { id: "timeline-h" }, "Timeline"),
        h("div", { class: "table-wrap" }, drawTimeline(run, select))),
      h("section", { "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Step executions"),
        table(["Step", "Type", "Attempt", "Status", "Duration", ""], steps.map((st, i) => [
          st.stepId, st.stepType, String(st.attempt), badge(st.status),
          st.duration == null ? "—" : `${st.duration} ms`,
          h("button", { type: "button", class: "secondary", onclick: () => select(i),
            "aria-controls": "step-detail" }, "Details")]))),
      h("section", { "aria-labelledby": "io-h" }, h("h2", { id: "io-h" }, "Input and result"),
        h("h3", {}, "Input"), pretty(run.input), h("h3", {}, "Result"), pretty(run.result)),
    ].filter(Boolean));
  };

  async function refresh(force = false) {
    const next = await get(base);
    if (run === null) say("");
    const key = JSON.stringify(next);
    if (!force && key === shown) return;
    shown = key;
    run = next;
    render();
    if (selected !== null && run.stepExecutionHistory[selected]) select(selected);
  }

  // A run just started may not be in the history store yet: a 404 before the first answer
  // means "not yet", and the page keeps asking.
  const attempt = async (force) => {
    try {
      await refresh(force);
    } catch (err) {
      if (err.status === 404 && run === null) say("Run not found yet; retrying");
      else if (err.status !== 401) say(err.message, true);
    }
  };
  main.append(h("h1", {}, `Run ${id}`), view, panel);
  await attempt(true);
  every(1000, async () => {
    if (run && OVER.has(run.status)) return;
    await attempt(false);
  });
}
