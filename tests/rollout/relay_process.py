"""Run the alert relay in a thread (uvicorn) and Alertmanager as a real process, for tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import uvicorn
import yaml

from tests.fixtures.local_services import ManagedProcess, free_port, start_process

REPO_ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class RelayServer:
    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RelayServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the relay did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def alertmanager_config(path: Path, relay_url: str, token_file: Path) -> Path:
    """The shipped alertmanager.yml, pointed at the test relay and made fast."""
    config = yaml.safe_load((REPO_ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    config["route"].update({"group_wait": "0s", "group_interval": "1s"})
    for route in config["route"]["routes"]:
        route.update({"group_wait": "0s", "group_interval": "1s"})
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs") or []:
            hook["url"] = f"{relay_url}/webhook"
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def fast_rules(path: Path, alert: str, window: str = "10s") -> Path:
    """One shipped alert rule with a short window and no `for`, so it fires in seconds."""
    groups = yaml.safe_load((REPO_ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == alert)
    rule["expr"] = rule["expr"].replace("[5m]", f"[{window}]")
    rule["for"] = "0s"
    path.write_text(yaml.safe_dump({"groups": [{"name": "test", "rules": [rule]}]},
                                   sort_keys=False))
    return path


def start_alertmanager(workdir: Path, config: Path) -> ManagedProcess:
    port = free_port()
    argv = [ALERTMANAGER, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    return start_process("alertmanager", argv, f"{url}/-/ready", workdir, url=url)
