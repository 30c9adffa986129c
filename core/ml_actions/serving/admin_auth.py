"""Who may change the gateway: a bearer token compared in constant time.

The token comes from `ML_ACTIONS_ADMIN_TOKEN` (`serving_contract.ADMIN_TOKEN_ENV`). A refused
request is logged with the client's
address and the path, never with the token it sent (a near-miss token is still a secret).
"""

from __future__ import annotations

import logging

from ml_actions.bearer_auth import bearer_token_matches

log = logging.getLogger("ml_actions.gateway.admin")


class AdminAuth:
    def __init__(self, token: str):
        if not token:
            raise ValueError("an empty admin token would let anyone change the gateway")
        self._token = token

    def allowed(self, authorization: str | None, client: str, path: str) -> bool:
        """True when `Authorization: Bearer <token>` matches; logs refusals without the token."""
        ok = bearer_token_matches(authorization, self._token)
        if not ok:
            presented = (authorization or "").partition(" ")[2]
            reason = "no bearer token" if not presented else "wrong token"
            log.warning("admin request refused: %s from %s to %s", reason, client, path)
        return ok


def actor_of(header: str | None, client: str) -> str:
    """Who made a change: the X-Actor header (the CI job, a person), else the client address."""
    actor = (header or "").strip()[:200]
    return actor or f"admin@{client}"
