"""Starting and stopping real services by PID."""

from __future__ import annotations

import os
import sys
import time
import urllib.request

import pytest

from ml_actions.errors import InfrastructureError
from tests.fixtures.local_services import free_port, start_process, wait_http

pytestmark = pytest.mark.integration


def test_process_is_started_waited_for_and_stopped_by_pid(tmp_path):
    port = free_port()
    proc = start_process("http", [sys.executable, "-m", "http.server", str(port), "--bind",
                                  "127.0.0.1"], f"http://127.0.0.1:{port}/", tmp_path, timeout=30)
    try:
        with urllib.request.urlopen(proc.url + "/", timeout=5) as resp:
            assert resp.status == 200
        assert proc.alive()
    finally:
        proc.stop()
    assert not proc.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_a_process_that_dies_is_reported_with_its_log(tmp_path):
    with pytest.raises(InfrastructureError, match="did not start.*exited with code 3"):
        start_process("dies", [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"],
                      f"http://127.0.0.1:{free_port()}/", tmp_path, timeout=20)
    assert "bye" in (tmp_path / "dies.log").read_text()


def test_wait_http_times_out_with_the_reason():
    with pytest.raises(InfrastructureError, match="did not answer within"):
        wait_http(f"http://127.0.0.1:{free_port()}/", timeout=0.5)


def test_real_prometheus_starts_and_knows_its_target(prometheus_factory):
    prom = prometheus_factory(["127.0.0.1:1"])
    deadline = time.monotonic() + 20
    seen = b""
    while time.monotonic() < deadline and b"127.0.0.1:1" not in seen:
        with urllib.request.urlopen(prom.url + "/api/v1/targets", timeout=5) as resp:
            seen = resp.read()
        time.sleep(0.2)
    assert b"127.0.0.1:1" in seen
    prom.stop()
    assert not prom.alive()
