"""`hopflow top` and `hopflow dashboard`: the /metrics math, the frame, the PNG.

Unit tests check the parsing, rate and quantile math against synthetic Prometheus text
(also served by a small aiohttp server, as a worker would); the e2e tests run real
workflows on a real worker and read the frame and the PNG the commands produce.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from aiokafka import AIOKafkaProducer
from matplotlib import image as mpimg
from rich.console import Console

from dev.workers import WorkerProcess
from hopflow import dashboard as dash
from hopflow.figures import compute
from hopflow.scrape import Scrape, quantile, rates, scrape, window_quantiles
from hopflow.top import frames, render
from tests.helpers import create_workflow, run_and_wait
from tests.tenants import KeyAuth

ROOT = Path(__file__).resolve().parents[1]


def metrics_text(completed: float, failed: float, fast: float, refused: float = 2.0) -> str:
    """A worker's /metrics in the catalogue's names; `fast` runs took <= 50 ms, the rest
    of `completed` took 50-100 ms, failed ones 1-2.5 s."""
    slow = completed - fast
    return f"""# HELP hopflow_runs_started_total Runs that started
# TYPE hopflow_runs_started_total counter
hopflow_runs_started_total{{trigger="manual"}} {completed + failed}
hopflow_runs_started_created{{trigger="manual"}} 1.7e9
# TYPE hopflow_runs_ended_total counter
hopflow_runs_ended_total{{status="completed",trigger="manual"}} {completed}
hopflow_runs_ended_total{{status="failed",trigger="manual"}} {failed}
# TYPE hopflow_workflow_runs_ended_total counter
hopflow_workflow_runs_ended_total{{workflow="wf-a",status="completed"}} {completed}
hopflow_workflow_runs_ended_total{{workflow="wf-b",status="failed"}} {failed}
# TYPE hopflow_run_duration_seconds histogram
hopflow_run_duration_seconds_bucket{{status="completed",le="0.05"}} {fast}
hopflow_run_duration_seconds_bucket{{status="completed",le="0.1"}} {completed}
hopflow_run_duration_seconds_bucket{{status="completed",le="2.5"}} {completed}
hopflow_run_duration_seconds_bucket{{status="completed",le="+Inf"}} {completed}
hopflow_run_duration_seconds_count{{status="completed"}} {completed}
hopflow_run_duration_seconds_sum{{status="completed"}} {0.04 * fast + 0.08 * slow}
hopflow_run_duration_seconds_bucket{{status="failed",le="0.05"}} 0
hopflow_run_duration_seconds_bucket{{status="failed",le="0.1"}} 0
hopflow_run_duration_seconds_bucket{{status="failed",le="2.5"}} {failed}
hopflow_run_duration_seconds_bucket{{status="failed",le="+Inf"}} {failed}
hopflow_run_duration_seconds_count{{status="failed"}} {failed}
hopflow_run_duration_seconds_sum{{status="failed"}} {2.0 * failed}
# TYPE hopflow_step_duration_seconds histogram
hopflow_step_duration_seconds_bucket{{step_type="webhook",outcome="ok",le="0.01"}} 0
hopflow_step_duration_seconds_bucket{{step_type="webhook",outcome="ok",le="0.1"}} {completed}
hopflow_step_duration_seconds_bucket{{step_type="webhook",outcome="ok",le="+Inf"}} {completed}
hopflow_step_duration_seconds_count{{step_type="webhook",outcome="ok"}} {completed}
hopflow_step_duration_seconds_sum{{step_type="webhook",outcome="ok"}} 1.0
# TYPE hopflow_consumer_lag_records gauge
hopflow_consumer_lag_records{{topic="run-commands",partition="0"}} 3
hopflow_consumer_lag_records{{topic="run-commands",partition="1"}} 4
hopflow_consumer_lag_records{{topic="step-dispatch",partition="0"}} 5
# TYPE hopflow_runs_refused_total counter
hopflow_runs_refused_total{{reason="daily_runs"}} {refused}
# TYPE hopflow_step_retries_total counter
hopflow_step_retries_total{{step_type="webhook"}} 6
# TYPE hopflow_watchdog_firings_total counter
hopflow_watchdog_firings_total 1
# TYPE hopflow_history_projection_lag_seconds gauge
hopflow_history_projection_lag_seconds 1.5
"""


# --- the math ---------------------------------------------------------------------------

def test_scrape_sums_workers_groups_labels_and_reads_missing_as_zero() -> None:
    s = Scrape(at=0.0)
    s.add_text(metrics_text(10, 2, 4))
    s.add_text(metrics_text(20, 3, 4))  # a second worker
    assert s.total("hopflow_runs_ended_total", ("status",)) == {
        ("completed",): 30.0, ("failed",): 5.0}
    assert s.value("hopflow_runs_started_total") == 35.0
    assert s.value("hopflow_runs_ended_total", status="failed") == 5.0
    assert s.total("hopflow_consumer_lag_records", ("topic",)) == {
        ("run-commands",): 14.0, ("step-dispatch",): 10.0}
    # seconds behind is the worst worker's, not a sum; creation times are not samples
    assert s.value("hopflow_history_projection_lag_seconds") == 1.5
    assert "hopflow_runs_started_created" not in s.samples
    assert s.value("hopflow_bulk_rows_total") == 0.0  # not exported at all: zero
    assert s.buckets("hopflow_run_duration_seconds", ("status",))[("completed",)] == [
        (0.05, 8.0), (0.1, 30.0), (2.5, 30.0), (float("inf"), 30.0)]


def test_rates_between_scrapes_and_a_restarted_counter() -> None:
    before, after = Scrape(at=10.0), Scrape(at=12.0)
    before.add_text(metrics_text(10, 2, 4))
    after.add_text(metrics_text(30, 2, 4))
    assert rates(before, after, "hopflow_runs_ended_total", ("status",)) == {
        ("completed",): 10.0, ("failed",): 0.0}
    restarted = Scrape(at=14.0)
    restarted.add_text(metrics_text(6, 0, 2))  # lower than before: the worker restarted
    assert rates(after, restarted, "hopflow_runs_ended_total", ("status",))[
        ("completed",)] == 3.0


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.05, 4.0), (0.1, 10.0), (2.5, 10.0), (float("inf"), 10.0)]
    assert quantile(0.2, buckets) == pytest.approx(0.025)  # rank 2 of 4 in [0, 0.05]
    assert quantile(0.5, buckets) == pytest.approx(0.05 + 0.05 * (1 / 6))  # rank 5: 1 of 6
    assert quantile(0.99, buckets) == pytest.approx(0.05 + 0.05 * (5.9 / 6))
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.5, []) is None
    # a rank in the +Inf bucket answers the highest finite bound
    assert quantile(0.9, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0


def test_window_quantiles_use_the_window_else_everything_since_start() -> None:
    before, after = Scrape(at=0.0), Scrape(at=2.0)
    before.add_text(metrics_text(10, 0, 10))  # 10 fast runs before the window
    after.add_text(metrics_text(20, 0, 10))  # then 10 slow ones (50-100 ms)
    p50, _, _ = window_quantiles(before, after, "hopflow_run_duration_seconds", ("status",))[
        ("completed",)]
    assert p50 is not None and 0.05 < p50 <= 0.1
    quiet = window_quantiles(after, after, "hopflow_run_duration_seconds", ("status",))
    assert quiet[("completed",)][0] == pytest.approx(0.05)  # rank 10 of 20: fast bucket's top


# --- the frame from a served /metrics ---------------------------------------------------

class FakeWorker:
    """/metrics whose counters move between scrapes, and /api/workflows for the names."""

    def __init__(self) -> None:
        self.completed, self.failed = 10.0, 2.0
        self.seen_keys: list[str | None] = []

    async def metrics(self, request: web.Request) -> web.Response:
        text = metrics_text(self.completed, self.failed, 4)
        self.completed += 8.0
        self.failed += 2.0
        return web.Response(text=text, content_type="text/plain")

    async def workflows(self, request: web.Request) -> web.Response:
        self.seen_keys.append(request.headers.get("x-api-key"))
        if request.headers.get("x-api-key") != "k-1":
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"data": [{"id": "wf-a", "name": "Enrich leads"},
                                           {"id": "wf-b", "name": "Sync CRM"}]})


@pytest_asyncio.fixture
async def fake_worker() -> AsyncIterator[tuple[str, FakeWorker]]:
    fake = FakeWorker()
    app = web.Application()
    app.router.add_get("/metrics", fake.metrics)
    app.router.add_get("/api/workflows", fake.workflows)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", fake
    finally:
        await runner.cleanup()


async def test_frame_from_served_metrics_names_rates_latency_and_failures(
        fake_worker: tuple[str, FakeWorker]) -> None:
    url, fake = fake_worker
    (fig,) = [f async for f in frames([url], 0.2, "k-1", "acme", count=1)]
    assert not fig.errors
    assert fake.seen_keys == ["k-1"]
    # 8 completed and 2 failed per scrape: the rate is that over the scrapes' real gap
    # (fig.seconds), whatever a busy machine made of the 0.2 s asked for
    assert fig.seconds >= 0.2
    assert fig.ended_per_s["completed"] * fig.seconds == pytest.approx(8.0)
    assert fig.ended_per_s["failed"] * fig.seconds == pytest.approx(2.0)
    assert fig.ended_total == {"completed": 18.0, "failed": 4.0}
    assert fig.lag_total == 12.0 and fig.lag_by_topic["run-commands"] == 7.0
    assert fig.refusals == {"daily_runs": 2.0} and fig.watchdog_total == 1.0
    (worst, best) = fig.workflows
    assert (worst.name, worst.failed, worst.failure_ratio) == ("Sync CRM", 4.0, 1.0)
    assert best.name == "Enrich leads" and best.failed == 0.0
    # the window's 8 completed runs all took 50-100 ms
    assert 0.05 < fig.run_latency["completed"][0] <= 0.1  # type: ignore[operator]
    assert 1.0 < fig.run_latency["failed"][2] <= 2.5  # type: ignore[operator]

    console = Console(record=True, width=120)
    console.print(render(fig))
    text = console.export_text()
    for expected in ("Sync CRM (wf-b)", "Enrich leads (wf-a)", "refused daily_runs",
                     "run-commands", "Step latency", "webhook", "100.0%"):
        assert expected in text, expected


async def test_unreachable_worker_is_named_not_fatal(fake_worker: tuple[str, FakeWorker]
                                                     ) -> None:
    url, _ = fake_worker
    s = await scrape([url, "http://127.0.0.1:9"])
    assert list(s.errors) == ["http://127.0.0.1:9"]
    assert s.value("hopflow_runs_ended_total", status="completed") == 10.0


# --- the PNG ----------------------------------------------------------------------------

def check_png(path: Path, tmp_path: Path) -> None:
    """A real PNG of the figure's size that is not one flat colour; a copy is kept."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.shape[0] == 900 and pixels.shape[1] == 1500
    assert float(pixels[..., :3].std()) > 0.01  # drawn, not a blank canvas
    kept = tmp_path / f"kept-{path.name}"
    shutil.copy(path, kept)
    print(f"dashboard PNG: {kept}")


def test_dashboard_figure_has_every_panel_and_draws_the_data(tmp_path: Path) -> None:
    before, after = Scrape(at=0.0), Scrape(at=1.0)
    after.add_text(metrics_text(20, 5, 10))
    hourly = dash.Hourly(hours_ms=[0, 3_600_000], counts={
        "completed": [3, 4], "failed": [1, 0], "cancelled": [0, 0], "active": [0, 1]})
    fig = dash.figure(compute(before, after, {"wf-b": "Sync CRM"}), hourly, "test")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(dash.PANELS)
    assert len(axes[0].patches) == 8  # 4 series x 2 hours
    assert [t.get_text() for t in axes[3].get_yticklabels()] == ["Sync CRM"]
    assert [t.get_text() for t in axes[4].get_yticklabels()] == ["run-commands",
                                                                  "step-dispatch"]
    out = tmp_path / "synthetic.png"
    fig.savefig(out, format="png")
    check_png(out, tmp_path)


def test_dashboard_of_an_empty_deployment_draws_no_data_panels(tmp_path: Path) -> None:
    empty = Scrape(at=0.0)
    fig = dash.figure(compute(empty, Scrape(at=1.0)), dash.Hourly(note="no key"), "empty")
    for ax in fig.get_axes():
        assert not ax.patches
        assert [t.get_text() for t in ax.texts] in (["no data"], ["no key"],
                                                    ["no failed runs"], ["all zero"])
    out = tmp_path / "empty.png"
    fig.savefig(out, format="png")
    check_png(out, tmp_path)


# --- e2e: a real worker -----------------------------------------------------------------

ECHO = {"name": "ops echo", "steps": [{"id": "a", "type": "transform",
                                       "config": {"fields": {"seen": "{{input}}"}}}]}
BROKEN = {"name": "ops broken", "steps": [{"id": "c", "type": "company_lookup",
                                           "config": {"value": "acme.io"}}]}


def hopflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hopflow", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "COLUMNS": "140"})


async def refused_count(http: httpx.AsyncClient, base: str) -> float:
    s = Scrape(at=0.0)
    s.add_text((await http.get(f"{base}/metrics")).text)
    return s.value("hopflow_runs_refused_total")


async def test_top_and_dashboard_read_a_live_worker(
        spawn_worker: Callable[..., WorkerProcess], http: httpx.AsyncClient,
        key_auth: KeyAuth, tmp_path: Path) -> None:
    # per-workflow labels are off by default (/metrics has no auth); an operator turns them on
    shared_worker = spawn_worker(env={"HOPFLOW_METRICS_MAX_WORKFLOWS": "50"})
    base = shared_worker.url
    ok = await create_workflow(http, base, ECHO, tenant="ops")
    broken = await create_workflow(http, base, BROKEN, tenant="ops")
    http.headers["x-tenant-id"] = "ops"
    for i in range(3):
        assert (await run_and_wait(http, base, ok, {"i": i}))["status"] == "completed"
    assert (await run_and_wait(http, base, broken, {}))["status"] == "failed"
    # a Kafka trigger's refusal (an unknown ingest token): hopflow_runs_refused_total
    producer = AIOKafkaProducer(bootstrap_servers=shared_worker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{shared_worker.app_id}.ingest", b'{"body": {}}',
                                     key=b"whk_unknown")
    finally:
        await producer.stop()
    for _ in range(300):
        if await refused_count(http, base) >= 1:
            break
        await asyncio.sleep(0.1)
    assert await refused_count(http, base) == 1
    key = await key_auth.key(base, shared_worker.port, "ops")

    done = await asyncio.to_thread(hopflow, "top", "--once", "--url", base, "--interval",
                                   "0.5", "--api-key", key, "--tenant", "ops")
    assert done.returncode == 0, done.stderr
    frame = done.stdout
    print(frame)
    assert f"hopflow top: {base}" in frame and "unreachable" not in frame
    assert "refused status_404" in frame
    for section in ("Runs", "Run latency", "Step latency", "Consumer lag",
                    "Failures per workflow", "step retries", "watchdog firings",
                    "dead letters", "projection lag", "bulk rows"):
        assert section in frame, section
    assert "ops broken" in frame and "completed" in frame  # failures per workflow, by name

    # runs per hour from the history store: the last 2 hours hold the 3 completed, 1 failed
    hourly = None
    for _ in range(100):
        hourly = await dash.runs_per_hour(base, 2, key, "ops")
        if hourly.counts and sum(hourly.counts["completed"]) == 3 and \
                sum(hourly.counts["failed"]) == 1:
            break
        await asyncio.sleep(0.2)
    assert hourly is not None and not hourly.note, hourly
    assert sum(hourly.counts["completed"]) == 3 and sum(hourly.counts["failed"]) == 1, hourly

    figures, hourly = await dash.collect([base], 2, key, "ops")
    fig = dash.figure(figures, hourly, "live")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(dash.PANELS)
    assert len(axes[0].patches) == 2 * len(dash.SERIES)  # bars for 2 hours x series
    assert [t.get_text() for t in axes[5].get_yticklabels()][2] == "runs refused"

    out = tmp_path / "health.png"
    done = await asyncio.to_thread(hopflow, "dashboard", "--out", str(out), "--url", base,
                                   "--hours", "6", "--api-key", key, "--tenant", "ops")
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    check_png(out, tmp_path)


def test_cli_without_a_reachable_worker_says_so(tmp_path: Path) -> None:
    done = hopflow("top", "--once", "--interval", "0.1", "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "unreachable http://127.0.0.1:9" in done.stdout
    out = tmp_path / "none.png"
    done = hopflow("dashboard", "--out", str(out), "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and out.exists()
    check_png(out, tmp_path)
