// Runs per hour over the last 24 h as a small SVG bar chart. The hourly series comes from
// GET /api/workflows/{id}/health (`hourly`); older workers lack it, and then the chart says so.
import { h, s } from "./dom.js";

// health.hourly: 24 buckets, oldest first, {hour, hourMs, started, completed, failed, cancelled}.
export function hourlySeries(health) {
  const list = health && Array.isArray(health.hourly) ? health.hourly : null;
  if (!list) return null;
  return list.map((x) => ({ label: x.hour || "", count: Number(x.started ?? 0),
    failed: Number(x.failed ?? 0) }));
}

export function drawHourly(health) {
  const series = hourlySeries(health);
  if (!series || !series.length) {
    return h("p", { class: "muted" }, "No hourly series from this worker yet.");
  }
  const W = 480;
  const H = 120;
  const top = Math.max(1, ...series.map((p) => p.count));
  const step = W / series.length;
  const total = series.reduce((a, p) => a + p.count, 0);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H + 16}`, width: W, role: "img",
    "aria-label": `Runs per hour, last ${series.length} hours: ${total} in all, at most ${top} in an hour` });
  series.forEach((p, i) => {
    const bh = Math.round((p.count / top) * H);
    svg.append(s("rect", { class: "hour", x: i * step + 1, y: H - bh, width: Math.max(1, step - 2),
      height: bh }, s("title", {}, `${p.label}: ${p.count} started, ${p.failed} failed`)));
  });
  svg.append(s("text", { x: 0, y: H + 13 }, "-24 h"), s("text", { x: W - 24, y: H + 13 }, "now"));
  return svg;
}
