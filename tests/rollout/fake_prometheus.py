"""What a fake Prometheus HTTP handler answers, shared by the reader's tests."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

VECTOR_42 = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [0, "42"]}]}}


def answer_json(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
