"""The admin endpoints a rollout drives (through `ml_actions.targets.gateway.GatewayTarget`).

Every endpoint needs the bearer token. Refusals say why: 400 for a malformed request, 409 when
the state does not allow it (traffic to an empty canary, nothing to roll back).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ml_actions.serving.admin_auth import actor_of
from ml_actions.serving.gateway_metrics import ROLLOUT_STATUSES
from ml_actions.serving.slot_manager import AdminRefusal

if TYPE_CHECKING:
    from ml_actions.serving.gateway import Gateway

Handler = Callable[["Gateway", Request, dict, str], Any]


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise AdminRefusal(f"request body is not valid JSON: {err}", 400) from None
    if not isinstance(body, dict):
        raise AdminRefusal("request body must be a JSON object", 400)
    return body


def admin_endpoint(gateway: Gateway, handler: Handler) -> Callable[[Request], Awaitable]:
    """Wrap `handler` with the token check, JSON parsing and refusal-to-status mapping."""

    async def endpoint(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        if not gateway.auth.allowed(request.headers.get("authorization"), client,
                                    request.url.path):
            return JSONResponse({"error_code": "UNAUTHORIZED",
                                 "message": "missing or wrong bearer token "
                                            "(ML_ACTIONS_ADMIN_TOKEN)"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            body = await _json_body(request) if request.method != "GET" else {}
            result = handler(gateway, request, body,
                             actor_of(request.headers.get("x-actor"), client))
        except AdminRefusal as err:
            return JSONResponse({"error_code": "REFUSED", "message": err.reason},
                                status_code=err.status)
        status = 202 if request.url.path.endswith("/load") else 200
        return JSONResponse(result if result is not None else gateway.manager.snapshot(),
                            status_code=status)

    return endpoint


def get_state(gateway: Gateway, request: Request, body: dict, actor: str) -> dict:
    return gateway.manager.snapshot()


def post_load(gateway: Gateway, request: Request, body: dict, actor: str) -> dict:
    slot = gateway.manager.load(body.get("slot", ""), body.get("model_uri", ""), actor)
    return {"slot": body.get("slot"), "state": asdict(slot)}


def put_traffic(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    if "canary_weight" not in body:
        raise AdminRefusal("send {\"canary_weight\": <0-100>}", 400)
    gateway.manager.set_weight(body["canary_weight"], actor)


def post_promote(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    gateway.manager.promote(actor)


def post_rollback(gateway: Gateway, request: Request, body: dict, actor: str) -> dict:
    done = gateway.manager.rollback(actor)
    return {"rollback": done, **gateway.manager.snapshot()}


def post_release(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    gateway.manager.release(body.get("slot", "previous"), actor)


def put_rollout_metrics(gateway: Gateway, request: Request, body: dict, actor: str) -> dict:
    """Publish a rollout's status, weight and check values as gauges, as Flagger does."""
    status = body.get("status")
    if status not in ROLLOUT_STATUSES:
        raise AdminRefusal(f"status must be one of {', '.join(ROLLOUT_STATUSES)}", 400)
    weight = body.get("weight")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
        raise AdminRefusal("weight must be a number", 400)
    checks = []
    for item in body.get("checks") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or isinstance(item.get("value"), bool) \
                or not isinstance(item.get("value"), (int, float)):
            raise AdminRefusal("each check needs a name (string) and a value (number)", 400)
        checks.append((item["name"], float(item["value"]), str(item.get("threshold", ""))))
    model = str(body.get("model_name") or "")
    gateway.metrics.set_rollout(model, status, weight, checks)
    return {"status": status, "weight": weight, "checks": len(checks)}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def post_shadow(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    """Start mirroring `share` of requests to the shadow slot until `until` (epoch s)."""
    share, until = body.get("share", 1.0), body.get("until")
    if not _number(share) or not 0 < share <= 1:
        raise AdminRefusal(f"share must be a number in (0, 1], got {share!r}", 400)
    if until is not None and (not _number(until) or until <= time.time()):
        raise AdminRefusal(f"until must be a future time in epoch seconds or null, got "
                           f"{until!r}", 400)
    gateway.manager.start_shadow(float(share), None if until is None else float(until), actor)


def delete_shadow(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    gateway.manager.stop_shadow(actor)


def put_lease(gateway: Gateway, request: Request, body: dict, actor: str) -> dict:
    """Renew the rollout's lease: past it the gateway takes the canary out of traffic."""
    seconds, holder = body.get("seconds"), body.get("holder") or actor
    if not _number(seconds) or not 0 < seconds <= 86400:
        raise AdminRefusal(f"seconds must be a number in (0, 86400], got {seconds!r}", 400)
    assert gateway.lease is not None
    return {"lease_until": gateway.lease.renew(float(seconds), str(holder)[:200])}


def delete_lease(gateway: Gateway, request: Request, body: dict, actor: str) -> None:
    assert gateway.lease is not None
    gateway.lease.release(actor)


ROUTES = [
    ("/admin/state", ["GET"], get_state),
    ("/admin/load", ["POST"], post_load),
    ("/admin/traffic", ["PUT"], put_traffic),
    ("/admin/promote", ["POST"], post_promote),
    ("/admin/rollback", ["POST"], post_rollback),
    ("/admin/release", ["POST"], post_release),
    ("/admin/rollout-metrics", ["PUT"], put_rollout_metrics),
    ("/admin/shadow", ["POST"], post_shadow),
    ("/admin/shadow", ["DELETE"], delete_shadow),
    ("/admin/lease", ["PUT"], put_lease),
    ("/admin/lease", ["DELETE"], delete_lease),
]
