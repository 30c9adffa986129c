"""The demo's services: MLflow, the gateway and Prometheus, each a real process stopped by PID.

`bind` is 127.0.0.1 for the demo. The self-test workflow binds 0.0.0.0 and advertises the
runner's address instead, because the Docker actions run in containers whose `localhost` is
their own.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.local_services import (
    ManagedProcess,
    free_port,
    prometheus_binary,
    start_mlflow_server,
    start_process,
    start_prometheus,
    wait_http,
    write_prometheus_config,
)

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


@dataclass
class Stack:
    """The running services and how to reach them (`public_host` as clients see it)."""

    workdir: Path
    admin_token: str
    public_host: str = LOOPBACK
    processes: list[ManagedProcess] = field(default_factory=list)

    def url(self, name: str) -> str:
        proc = next(p for p in self.processes if p.name == name)
        return proc.url.replace("0.0.0.0", self.public_host).replace(LOOPBACK, self.public_host)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


def start_mlflow(workdir: Path, bind: str = LOOPBACK) -> ManagedProcess:
    if bind == LOOPBACK:
        return start_mlflow_server(workdir)
    port = free_port()
    (workdir / "artifacts").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{workdir.resolve() / 'mlflow.db'}",
            "--artifacts-destination", str(workdir.resolve() / "artifacts"),
            "--host", bind, "--port", str(port), "--workers", "1"]
    url = f"http://{LOOPBACK}:{port}"
    return start_process("mlflow", argv, f"{url}/health", workdir, timeout=120, url=url,
                         env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


def start_gateway(workdir: Path, tracking_uri: str, token: str, bind: str = LOOPBACK,
                  config: Path | None = None) -> ManagedProcess:
    """`ml-actions gateway serve`, as an operator would run it."""
    port = free_port()
    argv = [sys.executable, "-m", "ml_actions.cli", "gateway", "serve", "--host", bind, "--port",
            str(port), "--state-dir", str(workdir.resolve() / "gateway-state"),
            "--tracking-uri", tracking_uri]
    if config is not None:
        argv += ["--config", str(config)]
    env = {"ML_ACTIONS_ADMIN_TOKEN": token, "SPARK_LOCAL_IP": LOOPBACK,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)]),
           "PYSPARK_PYTHON": sys.executable}
    url = f"http://{LOOPBACK}:{port}"
    return start_process("gateway", argv, f"{url}/healthz", workdir, env=env, timeout=120,
                         url=url)


def start_prom(workdir: Path, gateway: ManagedProcess, bind: str = LOOPBACK) -> ManagedProcess:
    target = gateway.url.removeprefix("http://")
    if bind == LOOPBACK:
        return start_prometheus(workdir / "prometheus", [target], scrape_interval="1s")
    folder = workdir.resolve() / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_prometheus_config(folder / "prometheus.yml", [target], "1s")
    argv = [prometheus_binary(), f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}", f"--web.listen-address={bind}:{port}",
            "--log.level=warn"]
    url = f"http://{LOOPBACK}:{port}"
    return start_process("prometheus", argv, f"{url}/-/ready", folder, timeout=60, url=url)


def start_stack(workdir: Path, bind: str = LOOPBACK, public_host: str = LOOPBACK,
                gateway_config: Path | None = None, log=print) -> Stack:
    """MLflow, then the gateway (which reads models from it), then Prometheus scraping it."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir, secrets.token_urlsafe(24), public_host)
    try:
        stack.processes.append(start_mlflow(workdir, bind))
        log(f"MLflow server      {stack.processes[-1].url} (pid {stack.processes[-1].pid})")
        stack.processes.append(start_gateway(workdir, stack.processes[0].url, stack.admin_token,
                                             bind, gateway_config))
        log(f"serving gateway    {stack.processes[-1].url} (pid {stack.processes[-1].pid})")
        stack.processes.append(start_prom(workdir, stack.processes[1], bind))
        log(f"Prometheus         {stack.processes[-1].url} (pid {stack.processes[-1].pid})")
        wait_http(f"{stack.processes[1].url}/metrics", 30)
    except BaseException:
        stack.stop()
        raise
    return stack
