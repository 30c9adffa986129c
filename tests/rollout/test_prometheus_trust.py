"""Trust towards Prometheus and secrets in what we write: TLS verified by default (a private CA
added with `analysis.ca_bundle`), auth from the environment, and credentials stripped from
every URL that reaches a message, report, tag, comment or log line."""

from __future__ import annotations

import io
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ml_actions.cli.runner import ActionsRunner
from ml_actions.redaction import redact, redact_value
from ml_actions.report_documents import write_reports
from ml_actions.rollout.analysis.prometheus_reader import (
    PrometheusReader,
    QueryError,
    prometheus_credentials,
)
from tests.fixtures.local_services import free_port
from tests.rollout.fake_prometheus import VECTOR_42, answer_json


class Answer(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        Answer.seen.append(self.headers.get("Authorization"))
        answer_json(self, 200, VECTOR_42)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tls_prometheus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(cert)
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_by_default_and_a_private_ca_is_added(tls_prometheus):
    url, ca = tls_prometheus
    with pytest.raises(QueryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
        PrometheusReader(url, timeout=3).scalar("up", 0)
    assert PrometheusReader(url, timeout=3, verify=ca).scalar("up", 0) == 42.0
    assert PrometheusReader(url, timeout=3, verify=False).scalar("up", 0) == 42.0


def test_auth_comes_from_the_environment(tls_prometheus):
    url, ca = tls_prometheus
    headers, auth = prometheus_credentials({"ML_ACTIONS_PROMETHEUS_TOKEN": "s3cret"})
    Answer.seen.clear()
    PrometheusReader(url, timeout=3, verify=ca, headers=headers, auth=auth).scalar("up", 0)
    assert Answer.seen == ["Bearer s3cret"]
    headers, auth = prometheus_credentials({"ML_ACTIONS_PROMETHEUS_USERNAME": "u",
                                            "ML_ACTIONS_PROMETHEUS_PASSWORD": "p"})
    Answer.seen.clear()
    PrometheusReader(url, timeout=3, verify=ca, headers=headers, auth=auth).scalar("up", 0)
    assert Answer.seen == ["Basic dTpw"]
    assert prometheus_credentials({}) == ({}, None)


def test_credentials_never_reach_a_log_line_output_report_or_summary(tmp_path):
    secret = "https://alice:hunter2@mlflow.internal:5000"
    assert redact(f"see {secret}/x") == "see https://***@mlflow.internal:5000/x"
    assert redact("sqlite:///m.db and a@b.com") == "sqlite:///m.db and a@b.com"
    assert redact_value({"u": [secret]}) == {"u": ["https://***@mlflow.internal:5000"]}
    out = io.StringIO()
    runner = ActionsRunner(env={"GITHUB_ACTIONS": "true",
                                "GITHUB_OUTPUT": str(tmp_path / "out"),
                                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}, stream=out)
    runner.error(f"MLflow at {secret} did not answer")
    runner.info(f"tracking {secret}\n::error::injected from a gateway message")
    runner.set_output("run-url", secret)
    runner.add_summary(f"[run]({secret})")
    json_path, md_path = write_reports({"tracking": secret}, f"at {secret}", tmp_path, "r")
    written = out.getvalue() + "".join(p.read_text() for p in (
        tmp_path / "out", tmp_path / "summary", json_path, md_path))
    assert "hunter2" not in written and "alice" not in written
    assert "\n ::error::injected" in out.getvalue()  # foreign text cannot become a command
