"""API tokens: random, stored as SHA-256 hashes only, never logged; scopes checked per route.

Scopes: ``admin`` (organisations, tokens, sites), ``submit`` (submit and cancel jobs), ``read``
(jobs, logs, events, explain, usage, sites), ``provider`` (register agents), ``node`` (a node's own
credential for the agent protocol). A resolved token is cached in-process for up to 30 seconds so the
hot paths (submit, heartbeat) do not look it up on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hexagrid.server.models import Org, Token

__all__ = ["SCOPES", "Principal", "TokenCache", "hash_token", "new_token"]

SCOPES = ("admin", "submit", "read", "provider", "node")
#: A resolved token is trusted this long without a database read. Revocation is immediate in the
#: replica that revokes (``forget_node``) and takes at most this long in the others.
_CACHE_TTL_S = 30.0


def new_token() -> str:
    """A fresh secret: 256 random bits, URL-safe, prefixed so it is recognisable in a leak scan."""
    return "hxg_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id (never the secret), its organisation, scopes and node."""

    token_id: str
    org_id: str
    scopes: frozenset[str]
    node_id: str | None = None
    org_residency: str = "ANY"  # the organisation's residency cap, read with the token (the submit path needs it)

    def has(self, scope: str) -> bool:
        return scope in self.scopes or ("admin" in self.scopes and scope != "node")


class TokenCache:
    """hash -> Principal for a few seconds; revocations in this process take effect at once."""

    def __init__(self) -> None:
        self._d: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """(hit, principal) from the cache alone, without touching the database."""
        hit = self._d.get(hash_token(token))
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def resolve(self, session_factory: object, token: str) -> Principal | None:
        h = hash_token(token)
        now = time.monotonic()
        hit = self._d.get(h)
        if hit is not None and hit[1] > now:
            return hit[0]
        with session_factory() as s:  # type: ignore[operator]
            got = s.execute(
                select(Token, Org.residency).join(Org, Org.id == Token.org_id).where(Token.hash == h)
            ).first()
            p = None
            if got is not None and not got[0].revoked:
                row = got[0]
                p = Principal(row.id, row.org_id, frozenset(row.scopes.split(",")), row.node_id, got[1] or "ANY")
        with self._lock:
            if len(self._d) > 100_000:
                self._d.clear()
            self._d[h] = (p, now + _CACHE_TTL_S)
        return p

    def forget_node(self, node_id: str) -> None:
        with self._lock:
            for h in [h for h, (p, _) in self._d.items() if p is not None and p.node_id == node_id]:
                del self._d[h]


def create_token(
    s: Session, *, org_id: str, scopes: list[str], name: str = "", node_id: str | None = None, secret: str | None = None
) -> tuple[Token, str]:
    """Store a new token's hash and return the row and the secret (shown once)."""
    token = secret or new_token()
    row = Token(
        id="t-" + secrets.token_hex(6),
        hash=hash_token(token),
        org_id=org_id,
        name=name,
        scopes=",".join(scopes),
        node_id=node_id,
        revoked=False,
        created_s=time.time(),
    )
    s.add(row)
    return row, token
