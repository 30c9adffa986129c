"""Checking an `Authorization: Bearer <token>` header, in constant time.

The gateway's admin API and the alert relay both take a bearer token; one comparison means a
fix (or a timing subtlety) lands in both.
"""

from __future__ import annotations

import hmac


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """True when the header is `Bearer <token>` (scheme case-insensitive) and `token` is set."""
    if not token:
        return False
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8"), token.encode("utf-8"))
