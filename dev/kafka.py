"""Run a real single-node Apache Kafka (KRaft) from the official jars, without Docker.

The jars are resolved once with Maven into a shared cache.  Each broker owns a data dir
(config, KRaft logs, pid file, broker.log), so brokers on different ports can run side by
side and their data survives stop/start.  The JVM is detached: it outlives the caller
until ``stop()`` is called.  POSIX only (signals, sessions).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KAFKA_VERSION = "3.9.1"  # org.apache.kafka:kafka_2.13 — pinned
SCALA_VERSION = "2.13"
SLF4J_VERSION = "1.7.36"  # slf4j-reload4j: gives Kafka's log4j 1.x logging a backend
DEPENDENCY_PLUGIN_VERSION = "3.6.1"  # pinned so resolution does not depend on the Maven version


def default_home() -> Path:
    """Shared cache root: ``$HOPFLOW_HOME`` or ``~/.cache/hopflow``."""
    return Path(os.environ.get("HOPFLOW_HOME") or Path.home() / ".cache" / "hopflow").expanduser()


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how one local broker runs; ``data_dir`` is resolved to a Path on creation."""

    port: int = 9092  # PLAINTEXT on 127.0.0.1; the controller listens on port + 1
    home: Path = field(default_factory=default_home)
    data_dir: Path | None = None  # default: home/kafka/data-<port>
    heap: str = "512m"
    # (user, password) pairs: adds a SASL_PLAINTEXT (PLAIN) listener on port + 2 for tests
    # of production-style authentication; PLAINTEXT on `port` stays (inter-broker, probes).
    sasl_users: tuple[tuple[str, str], ...] = ()
    # With sasl_users: a PEM file holding the server's private key (PKCS#8, unencrypted)
    # and certificate chain adds a SASL_SSL (PLAIN) listener on port + 3.
    tls_keystore_pem: Path | None = None

    def __post_init__(self) -> None:
        if not 0 < int(self.port) < 65535:
            raise ValueError(
                f"port must be in 1..65534 (port + 1 is the controller), got {self.port}"
            )
        home = Path(self.home).expanduser()
        data = (
            Path(self.data_dir).expanduser()
            if self.data_dir
            else home / "kafka" / f"data-{self.port}"
        )
        object.__setattr__(self, "port", int(self.port))
        object.__setattr__(self, "home", home)
        object.__setattr__(self, "data_dir", data.absolute())

    @classmethod
    def from_env(cls, **overrides: Any) -> BrokerSettings:
        """Read HOPFLOW_KAFKA_PORT / HOPFLOW_HOME / HOPFLOW_KAFKA_HEAP; non-None overrides win."""
        env = {
            "port": os.environ.get("HOPFLOW_KAFKA_PORT"),
            "home": os.environ.get("HOPFLOW_HOME"),
            "heap": os.environ.get("HOPFLOW_KAFKA_HEAP"),
        }
        kwargs: dict[str, Any] = {k: v for k, v in env.items() if v}
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        if "port" in kwargs:
            kwargs["port"] = int(kwargs["port"])
        return cls(**kwargs)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_port(self) -> int | None:
        return self.port + 2 if self.sasl_users else None

    @property
    def sasl_bootstrap(self) -> str | None:
        return f"127.0.0.1:{self.sasl_port}" if self.sasl_users else None

    @property
    def sasl_ssl_port(self) -> int | None:
        return self.port + 3 if self.sasl_users and self.tls_keystore_pem else None

    @property
    def sasl_ssl_bootstrap(self) -> str | None:
        return f"127.0.0.1:{self.sasl_ssl_port}" if self.sasl_ssl_port else None

    @property
    def jars_dir(self) -> Path:
        return self.home / "kafka" / "jars" / KAFKA_VERSION

    @property
    def data(self) -> Path:
        """``data_dir`` typed as a plain Path (it is always set after ``__post_init__``)."""
        assert self.data_dir is not None
        return self.data_dir


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    version: str


class BrokerError(RuntimeError):
    """The broker could not be provisioned, started or stopped; the message says why."""


# --- jars -------------------------------------------------------------------------------

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.hopflow</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>{SLF4J_VERSION}</version></dependency>
  </dependencies>
  <build><pluginManagement><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
    <version>{DEPENDENCY_PLUGIN_VERSION}</version>
  </plugin></plugins></pluginManagement></build>
</project>
"""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Cross-process lock so parallel sessions don't download into the same dir at once."""
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure_jars(settings: BrokerSettings) -> Path:
    """Resolve Kafka's runtime jars once; the marker is written last, so a half download retries."""
    jars = settings.jars_dir
    marker = jars / ".complete"
    if marker.exists():
        return jars
    jars.parent.mkdir(parents=True, exist_ok=True)
    with _locked(jars.parent / f".{KAFKA_VERSION}.lock"):
        if marker.exists():  # another process finished while we waited
            return jars
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                "Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka jars"
            )
        shutil.rmtree(jars, ignore_errors=True)
        goal = ["dependency:copy-dependencies", "-DincludeScope=runtime"]
        cmd = [mvn, "-q", "-B", *goal, f"-DoutputDirectory={jars}"]
        with tempfile.TemporaryDirectory(prefix="hopflow-kafka-pom-") as tmp:
            (Path(tmp) / "pom.xml").write_text(_POM)
            try:
                proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1800)
            except subprocess.TimeoutExpired as exc:
                raise BrokerError(
                    f"Maven did not finish resolving Kafka {KAFKA_VERSION} in 30 min"
                ) from exc
        if proc.returncode != 0 or not any(jars.glob(f"kafka_{SCALA_VERSION}-*.jar")):
            raise BrokerError(
                f"Maven could not resolve org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION} "
                f"(exit {proc.returncode}); last output:\n{_tail(proc.stdout + proc.stderr)}"
            )
        marker.write_text(f"kafka_{SCALA_VERSION}:{KAFKA_VERSION}\n")
    return jars


# --- processes ---------------------------------------------------------------------------

# Brokers started by this process: poll() reaps them, so a dead one is never seen as a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie some other parent has not reaped yet is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _broker_pid(settings: BrokerSettings) -> int | None:
    """Pid from the pid file if alive and Kafka runs *this* data dir (guards against pid reuse)."""
    try:
        pid = int((settings.data / "broker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    with contextlib.suppress(OSError):  # no /proc (macOS): trust the pid file
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"kafka.Kafka" not in argv or bytes(settings.data / "server.properties") not in argv:
            return None
    return pid


def port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (a bind test; sends no traffic)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True
    return False


async def _probe(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient  # lazy: importing dev.kafka stays cheap

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        return bool((await admin.describe_cluster()).get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def _answers(bootstrap: str) -> bool:
    """True once the broker serves metadata; works even when called from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_probe(bootstrap))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _probe(bootstrap)).result()


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _log_tail(settings: BrokerSettings) -> str:
    parts = []
    for name in ("broker.log", "server.log"):
        with contextlib.suppress(OSError):
            text = (settings.data / name).read_text(errors="replace")
            parts.append(f"--- {settings.data / name} (tail) ---\n{_tail(text)}")
    return "\n".join(parts) or "(no log output)"


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError(
            "Java ('java' on PATH or $JAVA_HOME/bin/java) is needed to run Kafka (17+)"
        )
    return java


def _write_config(settings: BrokerSettings) -> None:
    data, port, ctl = settings.data, settings.port, settings.port + 1
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{ctl}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data / "logs"),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "min.insync.replicas": "1",
        "default.replication.factor": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    if settings.sasl_users:
        sasl = f"SASL_PLAINTEXT://127.0.0.1:{settings.sasl_port}"
        users = " ".join(f'user_{user}="{password}"' for user, password in settings.sasl_users)
        props.update({
            "listeners": f"{props['listeners']},{sasl}",
            "advertised.listeners": f"{props['advertised.listeners']},{sasl}",
            "listener.security.protocol.map":
                f"{props['listener.security.protocol.map']},SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
        })
    if settings.sasl_ssl_port:
        tls = f"SASL_SSL://127.0.0.1:{settings.sasl_ssl_port}"
        props.update({
            "listeners": f"{props['listeners']},{tls}",
            "advertised.listeners": f"{props['advertised.listeners']},{tls}",
            "listener.security.protocol.map":
                f"{props['listener.security.protocol.map']},SASL_SSL:SASL_SSL",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(settings.tls_keystore_pem),
        })
    (data / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (data / "log4j.properties").write_text(  # root set per JVM via -Dhopflow.log4j.root (see _jvm)
        "log4j.rootLogger=${hopflow.log4j.root}\n"
        "log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stderr.Target=System.err\n"
        "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n\n"
        "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
        f"log4j.appender.file.File={data / 'server.log'}\n"
        "log4j.appender.file.MaxFileSize=20MB\n"
        "log4j.appender.file.MaxBackupIndex=2\n"
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )


def _jvm(settings: BrokerSettings, jars: Path, log_root: str) -> list[str]:
    """log_root: broker "INFO, file" (server.log, no console), tools "WARN, stderr" (captured)."""
    log4j = (settings.data / "log4j.properties").as_uri()
    props = [f"-Dlog4j.configuration={log4j}", f"-Dhopflow.log4j.root={log_root}"]
    return [_java(), *props, "-Djava.awt.headless=true", "-cp", f"{jars}/*"]


def _format(settings: BrokerSettings, jars: Path) -> None:
    """Format KRaft storage with a fresh cluster id (Kafka's Uuid text form, no leading '-')."""
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    config = str(settings.data / "server.properties")
    tool = [
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        config,
    ]
    proc = subprocess.run(
        [*_jvm(settings, jars, "WARN, stderr"), *tool], capture_output=True, text=True, timeout=180
    )
    if proc.returncode != 0:
        output = _tail(proc.stdout + proc.stderr)
        raise BrokerError(f"formatting KRaft storage failed (exit {proc.returncode}):\n{output}")


def start(settings: BrokerSettings, timeout: float = 90.0) -> BrokerStatus:
    """Start the broker (idempotent) and return once it really serves metadata.

    On timeout the JVM is left running (it may just be slow); call start() again to keep
    waiting, or stop() to give up.
    """
    data = settings.data
    pid = _broker_pid(settings)
    if pid is None:
        (data / "broker.pid").unlink(missing_ok=True)  # stale
        extra = [p for p in (settings.sasl_port, settings.sasl_ssl_port) if p]
        for port in (settings.port, settings.port + 1, *extra):
            if not port_free(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already in use by something that is not our "
                    f"broker (no live broker pid in {data}); choose another port "
                    "(HOPFLOW_KAFKA_PORT)"
                )
        jars = ensure_jars(settings)
        (data / "logs").mkdir(parents=True, exist_ok=True)
        _write_config(settings)
        if not (data / "logs" / "meta.properties").exists():  # data survives restarts
            _format(settings, jars)
        heap = [f"-Xms{settings.heap}", f"-Xmx{settings.heap}", "-XX:+UseG1GC"]
        cmd = [
            *_jvm(settings, jars, "INFO, file"),
            *heap,
            "kafka.Kafka",
            str(data / "server.properties"),
        ]
        with open(data / "broker.log", "ab") as log:  # detached: survives the caller
            proc = subprocess.Popen(
                cmd,
                cwd=data,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[proc.pid] = proc
        pid = proc.pid
        (data / "broker.pid").write_text(f"{pid}\n")
    deadline = time.monotonic() + timeout
    while True:
        if not _alive(pid):
            (data / "broker.pid").unlink(missing_ok=True)
            raise BrokerError(
                f"Kafka broker (pid {pid}) exited during startup:\n{_log_tail(settings)}"
            )
        if _listening(settings.port) and _answers(settings.bootstrap):
            return status(settings)
        if time.monotonic() > deadline:
            raise BrokerError(
                f"Kafka broker (pid {pid}) did not answer on {settings.bootstrap} within "
                f"{timeout:.0f}s; it is still running:\n{_log_tail(settings)}"
            )
        time.sleep(0.5)


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop(settings: BrokerSettings, timeout: float = 30.0) -> bool:
    """SIGTERM (a clean shutdown needs no log recovery), SIGKILL after ``timeout``.

    Returns False if it was not running."""
    pid = _broker_pid(settings)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _wait_exit(pid, 10.0):
                raise BrokerError(f"Kafka broker (pid {pid}) survived SIGKILL")
    (settings.data / "broker.pid").unlink(missing_ok=True)
    return pid is not None


def status(settings: BrokerSettings) -> BrokerStatus:
    """Whether our broker process (per the pid file) is alive; it says nothing about readiness."""
    pid = _broker_pid(settings)
    return BrokerStatus(pid is not None, pid, settings.bootstrap, settings.data, KAFKA_VERSION)
