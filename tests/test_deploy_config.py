"""The deployment files agree with each other, with the code and with a live worker.

There is no Docker engine where the tests run, so docker-compose.yml, the Prometheus
config and rules and the Grafana provisioning are checked by parsing them: a port,
an env name or a metric name that drifts from what the code really reads or exports
would otherwise show up only as an empty dashboard or a worker that ignores its
setting. The last test scrapes a real worker's /metrics (real broker, no mocks).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from dev.workers import WorkerProcess
from streams.file_store import open_store
from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
PROMETHEUS_LOCAL = ROOT / "deploy/prometheus/prometheus-local.yml"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
DATASOURCE = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
PROVIDER = ROOT / "deploy/grafana/provisioning/dashboards/hopflow.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/hopflow.json"
CODE_DIRS = ("streams", "steps", "api", "history", "topics", "schemas", "hopflow", "dev")

METRIC = re.compile(r"\bhopflow_[a-z_]+")
SUFFIXES = ("_bucket", "_sum", "_count", "_created")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {name: svc for name, svc in services(compose).items()
             if "hopflow" in " ".join(svc.get("command", []))}
    assert len(found) == 2, f"expected two hopflow workers, found {sorted(found)}"
    return found


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults (no variable set on the host)."""
    return INTERPOLATION.sub(lambda m: m["default"] or "", value)


def env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value)) for key, value in raw.items()}


def flag(service: dict[str, Any], name: str) -> str | None:
    command = service.get("command", [])
    for i, word in enumerate(command):
        if word == name:
            return str(command[i + 1])
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def web_port(service: dict[str, Any]) -> int:
    """The worker's port as the code sees it: the CLI flag wins over HOPFLOW_WEB_PORT."""
    return int(flag(service, "--web-port") or env(service).get("HOPFLOW_WEB_PORT", "6066"))


def published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) for every short-syntax port."""
    out = {}
    for entry in service.get("ports", []):
        host_ip, host_port, container = str(entry).rsplit(":", 2) if str(entry).count(":") == 2 \
            else ("0.0.0.0", *str(entry).split(":"))
        out[int(container)] = (host_ip, int(host_port))
    return out


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source for every short-syntax volume."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        out[target] = source
    return out


def targets(config: Path) -> set[str]:
    jobs = load(config)["scrape_configs"]
    job = next(j for j in jobs if j["job_name"] == "hopflow")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    return {t for sc in job["static_configs"] for t in sc["targets"]}


# --- compose: ports, healthchecks, wiring --------------------------------------------

def test_every_host_port_is_loopback_and_every_service_has_a_healthcheck(compose):
    for name, svc in services(compose).items():
        for container, (host_ip, _) in published(svc).items():
            assert host_ip == "127.0.0.1", f"{name}:{container} published on {host_ip}"
        test = svc.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services(compose), f"{name} depends on unknown service {dep}"
            assert cond["condition"] in ("service_healthy", "service_started")


def test_workers_ports_match_prometheus_targets_and_healthchecks(compose):
    expected_targets, local_targets = set(), set()
    for name, svc in workers(compose).items():
        port = web_port(svc)
        e = env(svc)
        assert port in published(svc), f"{name} does not publish its web port {port}"
        _, host_port = published(svc)[port]
        assert host_port == port, f"{name}: host and container ports differ"
        assert e["HOPFLOW_WEB_HOST"] == name, "other workers reach it by its service name"
        assert e["HOPFLOW_WEB_BIND"] == "0.0.0.0", "must listen beyond the container's loopback"
        health = " ".join(svc["healthcheck"]["test"])
        assert "/healthz" in health and ("HOPFLOW_WEB_PORT" in health or str(port) in health)
        deps = svc["depends_on"]
        for needed in ("kafka", "postgres", "minio"):
            assert deps[needed]["condition"] == "service_healthy", f"{name} -> {needed}"
        expected_targets.add(f"{name}:{port}")
        local_targets.add(f"127.0.0.1:{host_port}")
    assert targets(PROMETHEUS) == expected_targets
    assert targets(PROMETHEUS_LOCAL) == local_targets
    ports = [web_port(svc) for svc in workers(compose).values()]
    assert len(set(ports)) == len(ports), "each worker its own port"


def test_workers_form_one_deployment_on_a_kafka_listener(compose):
    kafka = env(services(compose)["kafka"])
    advertised = dict(reversed(item.split("://")) for item in
                      kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))  # addr -> listener name
    listening = {name: addr.rsplit(":", 1)[1] for name, addr in
                 (item.split("://") for item in kafka["KAFKA_LISTENERS"].split(","))}
    app_ids = set()
    for name, svc in workers(compose).items():
        bootstrap = flag(svc, "--bootstrap") or env(svc)["HOPFLOW_BOOTSTRAP"]
        for address in bootstrap.split(","):
            assert address in advertised, f"{name}: {address} is not a kafka listener"
            listener = advertised[address]
            assert address.rsplit(":", 1)[1] == listening[listener]
            assert address.split(":")[0] == "kafka"
        app_ids.add(flag(svc, "--app-id") or env(svc).get("HOPFLOW_APP_ID", "hopflow"))
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert len(app_ids) == 1, "both workers must share one app id (one consumer group)"


def test_workers_share_postgres_history_and_s3_files(compose, monkeypatch):
    pg = services(compose)["postgres"]
    assert str(pg["image"]).startswith("postgres:15")
    pg_env = env(pg)
    minio = services(compose)["minio"]
    minio_env = env(minio)
    s3_port = int(flag(minio, "--address").rsplit(":", 1)[1])
    for name, svc in workers(compose).items():
        e = env(svc)
        url = urlsplit(e["HOPFLOW_HISTORY"])
        assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
        assert url.username == pg_env["POSTGRES_USER"]
        assert url.password == pg_env["POSTGRES_PASSWORD"]
        assert url.path.lstrip("/") == pg_env["POSTGRES_DB"]
        endpoint = urlsplit(e["HOPFLOW_FILE_STORE_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("minio", s3_port)
        assert e["HOPFLOW_FILE_STORE_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
        assert e["HOPFLOW_FILE_STORE_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
        # The code accepts every value: settings parse, the S3 store opens (no I/O yet).
        for key, value in e.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.web_port == web_port(svc) and settings.history.startswith("postgresql")
        assert open_store(settings).target.endpoint_url == e["HOPFLOW_FILE_STORE_ENDPOINT"], name


def code_env_names() -> set[str]:
    """HOPFLOW_* names the code reads: string constants, and settings' `_env("NAME")`."""
    names: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and re.fullmatch(r"HOPFLOW_[A-Z0-9_]+", node.value):
                    names.add(node.value)
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_env" \
                        and node.args and isinstance(node.args[0], ast.Constant):
                    names.add(f"HOPFLOW_{node.args[0].value}")
    return names


def test_every_hopflow_env_name_in_compose_is_read_by_the_code(compose):
    known = code_env_names()
    assert {"HOPFLOW_BOOTSTRAP", "HOPFLOW_WEB_PORT", "HOPFLOW_FILE_STORE"} <= known
    used = set()
    for svc in services(compose).values():
        raw = svc.get("environment", {})
        for key, value in raw.items():
            used |= set(re.findall(r"HOPFLOW_[A-Z0-9_]+", f"{key} {value}"))
    assert used, "the workers are configured by HOPFLOW_* variables"
    assert used <= known, f"no code reads {sorted(used - known)}"


# --- Prometheus and Grafana files ------------------------------------------------------

def test_prometheus_mounts_its_config_and_rules(compose):
    prom = services(compose)["prometheus"]
    config_path = flag(prom, "--config.file") or "/etc/prometheus/prometheus.yml"
    volumes = mounts(prom)
    assert (ROOT / volumes[config_path]).resolve() == PROMETHEUS
    for rule_file in load(PROMETHEUS)["rule_files"]:
        in_container = str(Path(config_path).parent / rule_file)
        assert (ROOT / volumes[in_container]).resolve() == ALERTS
    for rule_file in load(PROMETHEUS_LOCAL)["rule_files"]:
        assert (PROMETHEUS_LOCAL.parent / rule_file).resolve() == ALERTS


def test_grafana_datasource_and_dashboards_are_provisioned(compose):
    grafana, prom = services(compose)["grafana"], services(compose)["prometheus"]
    g_env = env(grafana)
    source = load(DATASOURCE)["datasources"]
    assert len(source) == 1 and source[0]["type"] == "prometheus"
    url = INTERPOLATION.sub(lambda m: g_env[m["name"]], source[0]["url"])
    parts = urlsplit(url)
    listen = int((flag(prom, "--web.listen-address") or ":9090").rsplit(":", 1)[1])
    assert parts.hostname == "prometheus" and parts.port == listen
    assert listen in published(prom)
    assert "/-/ready" in " ".join(prom["healthcheck"]["test"])
    volumes = mounts(grafana)
    assert (ROOT / volumes["/etc/grafana/provisioning"]).resolve() == DATASOURCE.parent.parent
    provider = load(PROVIDER)["providers"][0]
    path = INTERPOLATION.sub(lambda m: g_env[m["name"]], provider["options"]["path"])
    assert (ROOT / volumes[path]).resolve() == DASHBOARD.parent
    dashboard = json.loads(DASHBOARD.read_text())
    uid = source[0]["uid"]
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries (rows hold none, or nest their panels when collapsed)."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for ch in re.sub(r'"[^"]*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


def test_dashboard_structure():
    dashboard = json.loads(DASHBOARD.read_text())
    all_ids = [p["id"] for p in dashboard["panels"]] + [
        p["id"] for row in dashboard["panels"] for p in row.get("panels", [])]
    assert len(all_ids) == len(set(all_ids)), "panel ids must be unique"
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"job", "instance"} <= names
    titles = set()
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        titles.add(panel["title"])
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.strip() and balanced(expr), (panel["title"], expr)
            assert "$job" in expr and "$instance" in expr, (panel["title"], expr)
            for name in METRIC.findall(expr):
                if name.endswith(("_total", "_bucket")):
                    assert re.search(rf"(rate|increase)\({name}\b", expr), \
                        f"{name} is a counter: use rate() or increase() ({panel['title']})"
            if "_bucket" in expr:
                assert re.search(r"histogram_quantile\(0\.\d+, sum by \(le\b", expr), expr
    for needed in ("Runs/s by status", "Run latency p50 / p95 / p99", "Failure rate by workflow",
                   "Consumer lag by topic", "Retries and watchdog",
                   "Dead letters by topic and reason", "Bulk rows/s", "Run refusals by reason",
                   "HTTP p95 by route", "History projection lag", "Table recovery",
                   "Timers pending"):
        assert needed in titles


def readme_anchors() -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    anchors, fenced = set(), False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_alert_rules_structure():
    groups = load(ALERTS)["groups"]
    anchors = readme_anchors()
    seen = set()
    for group in groups:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            name = rule["alert"]
            assert name not in seen, name
            seen.add(name)
            assert rule["expr"].strip() and balanced(rule["expr"]), name
            assert re.fullmatch(r"\d+[smh]", str(rule["for"])), name
            assert rule["labels"]["severity"] in ("warning", "critical"), name
            notes = rule["annotations"]
            assert notes["summary"] and notes["description"], name
            page, _, anchor = notes["runbook"].partition("#")
            assert page == "README.md" and anchor in anchors, f"{name}: no README {anchor}"
    assert {"HopflowWorkerDown", "HopflowConsumerLagGrowing", "HopflowDeadLetters",
            "HopflowRunFailureRate", "HopflowHistoryProjectionLag", "HopflowHistoryStoreDown",
            "HopflowWatchdogFiring", "HopflowTableRecoveryStuck"} <= seen


# --- metric names against the catalogue and a live worker -------------------------------

def used_metric_names() -> set[str]:
    exprs = [t["expr"] for p in panels(json.loads(DASHBOARD.read_text())) for t in p["targets"]]
    exprs += [r["expr"] for g in load(ALERTS)["groups"] for r in g["rules"]]
    names = set()
    for expr in exprs:
        for name in METRIC.findall(expr):
            for suffix in SUFFIXES:
                name = name.removesuffix(suffix)
            names.add(name)
    return names


def test_metric_names_are_in_the_catalogue():
    """Fast feedback without a broker: streams/metrics.py declares every name used."""
    declared = set(re.findall(r'"(hopflow_[a-z_]+)"', (ROOT / "streams/metrics.py").read_text()))
    used = used_metric_names()
    assert len(used) >= 15
    assert used <= declared, f"not in streams/metrics.py: {sorted(used - declared)}"


def test_metric_names_are_exported_by_a_live_worker(shared_worker: WorkerProcess):
    body = httpx.get(f"{shared_worker.url}/metrics", timeout=30).text
    # A family with labels and no samples yet still has its HELP line.
    exported = set(re.findall(r"^# HELP (hopflow_[a-z_]+) ", body, re.MULTILINE))
    used = used_metric_names()
    assert used <= exported, f"the dashboard or alerts use {sorted(used - exported)}"


def test_dead_letter_alert_sees_the_first_dead_letter_of_a_series():
    """hopflow_dead_letters_total{topic,reason} has no sample until its first dead letter,
    which creates it at 1: increase() alone never fires for it (a DLQ that gets one record
    stays silent). The alert must also match a series that is new in its window."""
    rule = next(r for g in load(ALERTS)["groups"] for r in g["rules"]
                if r["alert"] == "HopflowDeadLetters")
    expr = " ".join(rule["expr"].split())
    assert "increase(hopflow_dead_letters_total[10m])" in expr
    assert re.search(r"\bunless\b.*hopflow_dead_letters_total offset 10m", expr), expr
