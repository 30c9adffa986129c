"""The prediction endpoints: parse, route, score in a batch, answer with P(fraud) per row.

A request reads the routing table once, so it finishes on the model it was routed to even if
a swap happens meanwhile. Client mistakes are 400/404/413 with a reason; an exception in the
model is a 500 for that request only, and a model that gives no answer within
`gateway.request_timeout_seconds` is a 504 (`TIMEOUT`); all are counted in
`ml_gateway_requests_total` by code, the 5xx with their latency.
A request is read as JSON columns when it has a plain shape (`columnar_request.py`): a model
that scores columns (an ONNX form) then never meets pandas; any other model, or a request of
another shape, takes the DataFrame as before, with the same answers and errors.
Every request carries an id (the client's `X-Request-Id`, else a new uuid4 hex) that is sent
back in `X-Request-Id` and keys its prediction-log records. After a 200 the answered rows go
to `ShadowMirror.after_answer` (shadow scoring and the log), which never delays the answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse

from ml_actions.serving.batching import ScoringTimeout
from ml_actions.serving.columnar_request import (
    ColumnarRequest,
    NotColumnar,
    read_invocations,
    read_v2_infer,
)
from ml_actions.serving.gateway_metrics import NO_SLOT
from ml_actions.serving.prediction_record import PredictionEntry
from ml_actions.serving.protocols import (
    ParsedRequest,
    RequestError,
    decode_json,
    parse_invocations,
    parse_v2_infer,
    v2_response,
)
from ml_actions.serving.routing import group_of, routing_key_of
from ml_actions.serving.slots import LiveModel

if TYPE_CHECKING:
    from ml_actions.serving.gateway import Gateway

log = logging.getLogger("ml_actions.gateway")
DRAIN_LIMIT = 64 * 1024 * 1024  # read at most this much of an oversized body before the 413


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or a 413 once it passes `limit` bytes (read to the end so the client sees it)."""
    declared = request.headers.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > limit
    if too_big and int(declared) > DRAIN_LIMIT:
        raise RequestError(f"body of {declared} bytes exceeds the limit of {limit} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if too_big or size > limit:
        raise RequestError(f"body of {size} bytes exceeds the limit of {limit} bytes "
                           "(gateway.max_body_bytes)", 413)
    return b"".join(chunks)


def error_response(status: int, reason: str, code: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": reason}, status_code=status)


AnyRequest = ParsedRequest | ColumnarRequest


def read_request(payload: object, protocol: str, max_rows: int) -> AnyRequest:
    """The request as columns when it has a plain shape, else as a DataFrame (a malformed
    one raises the `RequestError` it always did)."""
    try:
        if protocol == "v2":
            return read_v2_infer(payload, max_rows)
        return read_invocations(payload, max_rows)
    except NotColumnar:
        pass
    if protocol == "v2":
        return parse_v2_infer(payload, max_rows)
    return parse_invocations(payload, max_rows)


async def score_request(live: LiveModel, parsed: AnyRequest) -> np.ndarray:
    """P(fraud) per row: from the columns, inline, when the model and the request allow it;
    else from the DataFrame, through the batcher."""
    model = live.model
    if isinstance(parsed, ColumnarRequest) and model.columnar is not None:
        try:
            scores = live.batcher.score_now(lambda: model.score_columns(parsed), parsed.rows)
        except NotColumnar:
            scores = None
        if scores is not None:
            return scores
    return await live.batcher.score(model.prepare(parsed.frame))


def _routing_key(gateway: Gateway, request: Request, parsed: AnyRequest) -> str | None:
    field = gateway.config.routing_key
    first = {field: parsed.first_value(field)} if field else None
    return routing_key_of(request.headers.get("x-routing-key"), first, field)


def _after_answer(gateway: Gateway, shadow, parsed: AnyRequest, request_id: str,
                  key: str | None, slot: str, model, values: list[float], group: str) -> None:
    """Hand the answered rows to the shadow mirror and the prediction log (cheap: references;
    a columnar request builds its DataFrame only for a shadow, the one reader of it)."""
    mirror = gateway.mirror
    shadow = mirror.shadow_for(shadow, gateway.manager.state, request_id)
    if shadow is None and not mirror.wanted:
        return
    columns = gateway.log_columns
    entry = PredictionEntry(
        request_id, time.time(), key, slot, model.name, model.version, values,
        gateway.config.decision_threshold, keys=parsed.column(columns.key_column),
        amounts=parsed.column(columns.amount_column))
    mirror.after_answer(entry, parsed.frame if shadow is not None else None, shadow, group)


async def predict(gateway: Gateway, request: Request, protocol: str,
                  model_name: str | None = None) -> JSONResponse:
    started = time.perf_counter()
    metrics, config = gateway.metrics, gateway.config
    try:
        payload = decode_json(await read_body(request, config.max_body_bytes))
        parsed = read_request(payload, protocol, config.max_rows_per_request)
    except RequestError as err:
        metrics.observe_request(NO_SLOT, "", err.status, None)
        return error_response(err.status, err.reason, "BAD_REQUEST")
    key = _routing_key(gateway, request, parsed)
    table = gateway.manager.table
    slot, live = table.pick(key)
    group = group_of(key)
    if live is None:
        metrics.observe_request(NO_SLOT, "", 503, None)
        return error_response(503, "no model is loaded in the stable slot yet; POST "
                              "/admin/load and wait for GET /readyz", "NOT_READY")
    model = live.model
    if model_name is not None and model_name != model.name:
        metrics.observe_request(NO_SLOT, "", 404, None)
        return error_response(404, f"model {model_name!r} is not served here; this gateway "
                              f"serves {model.name!r}", "NOT_FOUND")
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    headers = {"X-Model-Variant": slot, "X-Model-Version": model.version,
               "X-Model-Name": model.name, "X-Request-Id": request_id}
    try:
        scores = await score_request(live, parsed)
    except RequestError as err:  # the slot's model cannot take this input
        metrics.observe_rejection(slot, model.version, err.status, group)
        return JSONResponse({"error_code": "BAD_REQUEST", "message": err.reason},
                            status_code=err.status, headers=headers)
    except ScoringTimeout as err:  # a hung model or a starved pool: answer, do not hang
        log.warning("model %s in %s: %s", model.ref.uri, slot, err)
        metrics.observe_request(slot, model.version, 504, time.perf_counter() - started, group,
                                model.form)
        return JSONResponse({"error_code": "TIMEOUT",
                             "message": f"model {model.ref.uri} timed out: {err}"},
                            status_code=504, headers=headers)
    except Exception as err:  # noqa: BLE001 - the model failed this request, not the gateway
        log.warning("model %s in %s raised %s: %s", model.ref.uri, slot,
                    type(err).__name__, str(err)[:300])
        metrics.observe_request(slot, model.version, 500, time.perf_counter() - started, group,
                                model.form)
        return JSONResponse({"error_code": "MODEL_ERROR",
                             "message": f"model {model.ref.uri} failed: {type(err).__name__}"},
                            status_code=500, headers=headers)
    values = [float(v) for v in scores]
    metrics.observe_scores(slot, model.version, values, config.decision_threshold, group)
    metrics.observe_request(slot, model.version, 200, time.perf_counter() - started, group,
                            model.form)
    _after_answer(gateway, table.shadow, parsed, request_id, key, slot, model, values, group)
    if protocol == "v2":
        return JSONResponse(v2_response(model.name, model.version, values, parsed.request_id),
                            headers=headers)
    threshold = config.decision_threshold
    return JSONResponse({"predictions": values,
                         "decisions": ["fraud" if v >= threshold else "legit" for v in values]},
                        headers=headers)
