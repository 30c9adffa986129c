"""Real local services for the demo, the tests and the benchmarks: MLflow, Prometheus, ...

Each is started as a child process on a free loopback port, waited for until it answers, and
stopped by PID (its whole process group), so nothing outlives the run that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InfrastructureError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ManagedProcess:
    """A started service: where it answers, its PID and its log."""

    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout` seconds."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None,
              accept: Sequence[int] = (200,)) -> None:
    """Poll `url` until it answers with an accepted status, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise InfrastructureError(f"process for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status in accept:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            if err.code in accept:
                return
            last = f"HTTP {err.code}"
        except (urllib.error.URLError, OSError) as err:
            last = str(err)
        time.sleep(0.2)
    raise InfrastructureError(f"{url} did not answer within {timeout:.0f} s ({last})")


def start_process(name: str, argv: Sequence[str], health_url: str, workdir: Path,
                  env: Mapping[str, str] | None = None, timeout: float = 60.0,
                  url: str | None = None) -> ManagedProcess:
    """Start `argv` in its own process group, logging to `workdir/<name>.log`."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    full_env = dict(os.environ)
    full_env.update(env or {})
    process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, env=full_env,
                               cwd=str(workdir), start_new_session=True)
    log.close()
    managed = ManagedProcess(name, url or health_url.rsplit("/", 1)[0], process, log_path)
    try:
        wait_http(health_url, timeout, process)
    except InfrastructureError as err:
        managed.stop()
        raise InfrastructureError(f"{name} did not start: {err}\n{managed.log_tail()}") from None
    return managed


def start_mlflow_server(workdir: Path, port: int | None = None,
                        timeout: float = 90.0) -> ManagedProcess:
    """A real MLflow tracking server + registry: sqlite backend, local artifact store."""
    workdir = Path(workdir).resolve()
    port = port or free_port()
    (workdir / "artifacts").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination", str(workdir / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "GUNICORN_CMD_ARGS": "--timeout 120"}
    return start_process("mlflow", argv, f"{url}/health", workdir, env=env, timeout=timeout,
                         url=url)


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus"
                                          if Path("/usr/bin/prometheus").exists() else None)
    if not found:
        raise InfrastructureError(
            "the prometheus binary is not installed; run `make setup` (installs the Debian "
            "package `prometheus`) or `apt-get install prometheus`"
        )
    return found


def write_prometheus_config(path: Path, targets: Sequence[str], scrape_interval: str = "1s",
                            job: str = "ml-gateway", rule_files: Sequence[str] = (),
                            alertmanager: str | None = None) -> Path:
    """A minimal prometheus.yml scraping `targets` (host:port) at `scrape_interval`."""
    import yaml

    config: dict = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_prometheus(workdir: Path, targets: Sequence[str], scrape_interval: str = "1s",
                     port: int | None = None, rule_files: Sequence[str] = (),
                     alertmanager: str | None = None, timeout: float = 60.0) -> ManagedProcess:
    """A real Prometheus server (Debian package) scraping the given targets."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = write_prometheus_config(workdir / "prometheus.yml", targets, scrape_interval,
                                     rule_files=rule_files, alertmanager=alertmanager)
    argv = [prometheus_binary(), f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
            "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    proc = start_process("prometheus", argv, f"{url}/-/ready", workdir, timeout=timeout, url=url)
    proc.extra["config"] = str(config)
    return proc
