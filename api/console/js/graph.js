// A workflow definition drawn as SVG: steps as boxes, next/edges/condition branches as
// arrows, laid out in rows by depth (the shortest hop count from the first step), which
// reads top-down on a phone as well as on a desk.
import { s } from "./dom.js";

const BOX_W = 150;
const BOX_H = 44;
const GAP_X = 30;
const GAP_Y = 56;

function stepId(step) {
  return step.id || step.stepId || step.StepId;
}

function isEnd(step) {
  return /^end[-_]?flow$/i.test(step.type || "");
}

// [{from, to, label}] the way steps/graph.py Graph.targets reads a definition.
export function edgesOf(def) {
  const steps = def.steps || [];
  const ids = steps.map(stepId);
  const graphForm = "edges" in def || "initialStep" in def;
  const out = [];
  steps.forEach((step, i) => {
    const id = stepId(step);
    const config = step.config || {};
    if (typeof config.on_timeout === "string") out.push({ from: id, to: config.on_timeout, label: "timeout" });
    if (isEnd(step)) return;
    let decided = false;
    if (step.type === "condition") {
      for (const branch of ["then", "else"]) {
        if (config[branch]) out.push({ from: id, to: config[branch], label: branch });
      }
      decided = "then" in config && "else" in config;
    }
    if (decided) return;
    if ("next" in step) {
      if (step.next) out.push({ from: id, to: step.next, label: "" });
    } else if (graphForm) {
      for (const edge of def.edges || []) {
        if (edge.from === id) out.push({ from: id, to: edge.to, label: edge.condition ? "if" : "" });
      }
    } else if (i + 1 < ids.length) {
      out.push({ from: id, to: ids[i + 1], label: "" });
    }
  });
  return out.filter((e) => ids.includes(e.to));
}

export function layout(def) {
  const steps = def.steps || [];
  const ids = steps.map(stepId);
  const edges = edgesOf(def);
  const depth = new Map();
  const first = def.initialStep || ids[0];
  const queue = first ? [first] : [];
  if (first) depth.set(first, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const e of edges) {
      if (e.from === id && !depth.has(e.to)) {
        depth.set(e.to, depth.get(id) + 1);
        queue.push(e.to);
      }
    }
  }
  let deepest = Math.max(-1, ...depth.values());
  for (const id of ids) if (!depth.has(id)) depth.set(id, ++deepest); // unreachable: below
  const rows = new Map();
  for (const id of ids) {
    const d = depth.get(id);
    rows.set(d, [...(rows.get(d) || []), id]);
  }
  const widest = Math.max(1, ...[...rows.values()].map((r) => r.length));
  const width = widest * BOX_W + (widest + 1) * GAP_X;
  const at = new Map();
  for (const [d, row] of rows) {
    const span = row.length * BOX_W + (row.length - 1) * GAP_X;
    row.forEach((id, i) => at.set(id, {
      x: (width - span) / 2 + i * (BOX_W + GAP_X), y: GAP_Y / 2 + d * (BOX_H + GAP_Y) }));
  }
  const height = (Math.max(0, ...rows.keys()) + 1) * (BOX_H + GAP_Y);
  return { at, edges, width, height };
}

export function drawGraph(def) {
  const { at, edges, width, height } = layout(def);
  const byId = new Map((def.steps || []).map((st) => [stepId(st), st]));
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, width,
    role: "img", "aria-label": `Workflow graph: ${byId.size} steps, ${edges.length} arrows` });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
  s("path", { d: "M0,0 L10,5 L0,10 z" }))));
  for (const e of edges) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    const x1 = a.x + BOX_W / 2;
    const x2 = b.x + BOX_W / 2;
    let d;
    if (b.y > a.y) {
      d = `M${x1},${a.y + BOX_H} C${x1},${a.y + BOX_H + 30} ${x2},${b.y - 30} ${x2},${b.y}`;
    } else { // back or sideways edge: around the right side
      const side = Math.max(a.x, b.x) + BOX_W + 14;
      d = `M${a.x + BOX_W},${a.y + BOX_H / 2} C${side},${a.y + BOX_H / 2} ${side},${b.y + BOX_H / 2} ${b.x + BOX_W},${b.y + BOX_H / 2}`;
    }
    svg.append(s("path", { class: "edge", d, "marker-end": "url(#arrow)",
      "data-from": e.from, "data-to": e.to }));
    if (e.label) {
      svg.append(s("text", { class: "edge-label", x: (x1 + x2) / 2 + 4,
        y: b.y > a.y ? (a.y + BOX_H + b.y) / 2 : a.y + BOX_H / 2 - 4 }, e.label));
    }
  }
  for (const [id, step] of byId) {
    const p = at.get(id);
    svg.append(s("g", { class: `node ${step.type === "condition" ? "condition" : ""}`,
      "data-step": id },
    s("title", {}, `${id} (${step.type})`),
    s("rect", { x: p.x, y: p.y, width: BOX_W, height: BOX_H, rx: 6 }),
    s("text", { x: p.x + 8, y: p.y + 18 }, id.length > 20 ? `${id.slice(0, 19)}…` : id),
    s("text", { x: p.x + 8, y: p.y + 34 }, step.type || "")));
  }
  return svg;
}
