// A run's step executions as a Gantt chart: one bar per execution (each attempt its own
// row), waits between executions as dashed lines, times relative to the run's start.
import { s } from "./dom.js";

const ROW = 26;
const LABEL = 130;
const W = 640;

function ms(iso) {
  return iso ? Date.parse(iso) : null;
}

export function drawTimeline(run, onSelect) {
  const steps = run.stepExecutionHistory || [];
  const t0 = ms(run.startTime) ?? (steps.length ? ms(steps[0].startTime) : Date.now());
  const now = Date.now();
  const ends = steps.map((x) => ms(x.endTime) ?? now);
  const tEnd = Math.max(ms(run.endTime) ?? (run.status && /completed|failed|cancelled|terminated/.test(run.status) ? t0 : now), ...ends, t0 + 1);
  const span = tEnd - t0;
  const x = (t) => LABEL + ((t - t0) / span) * (W - LABEL - 10);
  const height = Math.max(1, steps.length) * ROW + 22;
  const svg = s("svg", { class: "timeline", viewBox: `0 0 ${W} ${height}`, width: W, role: "img",
    "aria-label": `Timeline: ${steps.length} step executions over ${span} ms` });
  svg.append(s("line", { class: "axis", x1: LABEL, x2: LABEL, y1: 0, y2: height - 18 }),
    s("text", { x: LABEL, y: height - 4 }, "0 ms"),
    s("text", { x: W - 70, y: height - 4 }, `${span} ms`));
  let previousEnd = null;
  steps.forEach((step, i) => {
    const start = ms(step.startTime) ?? t0;
    const end = ms(step.endTime) ?? now;
    const y = i * ROW + 4;
    if (previousEnd !== null && start - previousEnd > 0) {
      svg.append(s("line", { class: "wait", x1: x(previousEnd), x2: x(start), y1: y + 9, y2: y + 9 },
        s("title", {}, `waited ${start - previousEnd} ms`)));
    }
    const bar = s("rect", { class: `bar ${step.status}`, x: x(start), y, height: 18, rx: 3,
      width: Math.max(3, x(end) - x(start)), "data-step": step.stepId, "data-attempt": step.attempt },
    s("title", {}, `${step.stepId} attempt ${step.attempt}: ${step.status}, ${end - start} ms`));
    bar.addEventListener("click", () => onSelect(i));
    svg.append(s("text", { x: 4, y: y + 13 }, `${step.stepId} #${step.attempt}`), bar);
    previousEnd = end;
  });
  return svg;
}
