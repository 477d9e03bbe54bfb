// Bulk jobs: the list, and one job's page with a <progress> bar (polled every 2 s until
// the job is over) and the results CSV download (fetched with the credential).
import { get, raw } from "./api.js";
import { badge, h, say, table, when } from "./dom.js";
import { every } from "./router.js";

const OVER = new Set(["completed", "failed", "cancelled"]);

export async function bulkListPage(main) {
  const body = await get("/api/bulk-jobs?limit=100");
  main.append(h("h1", {}, "Bulk jobs"), h("section", {},
    table(["Job", "Type", "Status", "Progress", "Created"], body.data.map((j) => [
      h("a", { href: `#/bulk/${encodeURIComponent(j.id)}` }, j.id), j.type, badge(j.status),
      `${j.processed} / ${j.total_rows}`, when(j.created_at)]))));
}

async function download(id) {
  try {
    const response = await raw(`/api/bulk-jobs/download?id=${encodeURIComponent(id)}`);
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `${id}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    say(`Download failed: ${err.message}`, true);
  }
}

export async function bulkJobPage(main, { id }) {
  const view = h("div", {});
  main.append(h("h1", {}, `Bulk job ${id}`), view);
  let job = null;
  const refresh = async () => {
    job = await get(`/api/bulk-jobs?id=${encodeURIComponent(id)}`);
    const pct = job.total_rows ? Math.round((100 * job.processed) / job.total_rows) : 0;
    view.replaceChildren(h("section", {},
      h("label", { for: "bulk-progress" }, `Progress: ${job.processed} of ${job.total_rows} rows (${pct} %)`),
      h("progress", { id: "bulk-progress", max: job.total_rows || 1, value: job.processed }),
      h("dl", { class: "facts" }, h("dt", {}, "Status"), h("dd", { id: "bulk-status" }, badge(job.status)),
        h("dt", {}, "Type"), h("dd", {}, job.type), h("dt", {}, "Failed rows"), h("dd", {}, String(job.failed)),
        h("dt", {}, "Credits"), h("dd", {}, String(job.credits_used)),
        h("dt", {}, "Created"), h("dd", {}, when(job.created_at)),
        h("dt", {}, "Completed"), h("dd", {}, when(job.completed_at)),
        h("dt", {}, "Error"), h("dd", {}, job.error || "—")),
      h("div", { class: "actions" }, h("button", { type: "button", id: "bulk-download",
        onclick: () => download(id) }, "Download results CSV"))));
  };
  await refresh();
  every(2000, async () => {
    if (job && OVER.has(job.status)) return;
    try { await refresh(); } catch (err) { if (err.status !== 401) say(err.message, true); }
  });
}
