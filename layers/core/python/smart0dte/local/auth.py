"""Local stand-in for Cognito + API Gateway's JWT authorizer: HS256 tokens from the standard library.

`LocalAuth` holds a random secret for one run, issues expiring tokens (`smart0dte demo` prints
one) and verifies them the way API Gateway's authorizer does: signature, `exp` (and `nbf`, each
a finite number of seconds), issuer and audience. The verified claims then go into the API
Gateway v2 event exactly where the authorizer puts them (`requestContext.authorizer.jwt`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

ISSUER: Final = "smart0dte-local"
AUDIENCE: Final = "smart0dte-api"
DEFAULT_TTL_S: Final = 12 * 3600
DEFAULT_SCOPES: Final = ("smart0dte/read", "smart0dte/trade")
"""The Cognito resource server's scopes, as its access tokens carry them."""
LEEWAY_S: Final = 30
"""Clock skew tolerated on exp and nbf."""


class InvalidToken(ValueError):
    """The token is missing, malformed, badly signed, expired or not for this API; the message says which."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"token segment is not base64url: {exc}") from None


@dataclass
class LocalAuth:
    """Issues and verifies HS256 JWTs; one random 256-bit secret per instance (per run)."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    now: Callable[[], float] = time.time

    def _sign(self, signing_input: bytes) -> bytes:
        return hmac.new(self.secret, signing_input, hashlib.sha256).digest()

    def issue(
        self,
        subject: str = "demo",
        scopes: Sequence[str] = DEFAULT_SCOPES,
        ttl_s: int = DEFAULT_TTL_S,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token for `subject` with the given scopes, expiring after `ttl_s` seconds."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s={ttl_s} must be > 0")
        issued = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "username": subject,
            "scope": " ".join(scopes),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
            "jti": secrets.token_hex(8),
            **(extra or {}),
        }
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = (
            _b64encode(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        )
        return signing_input + "." + _b64encode(self._sign(signing_input.encode("ascii")))

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken naming what failed."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("token must have three dot-separated segments")
        header_b64, claims_b64, signature_b64 = parts
        try:
            header = json.loads(_b64decode(header_b64))
        except ValueError:
            raise InvalidToken("token header is not JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise InvalidToken("token alg must be HS256")
        expected = self._sign(f"{header_b64}.{claims_b64}".encode("ascii"))
        if not hmac.compare_digest(expected, _b64decode(signature_b64)):
            raise InvalidToken("token signature does not match")
        try:
            claims = json.loads(_b64decode(claims_b64), parse_constant=_not_json)
        except ValueError:
            raise InvalidToken("token claims are not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("token claims must be a JSON object")
        now = self.now()
        exp = claims.get("exp")
        if not _seconds(exp):
            raise InvalidToken("token exp must be a finite number of seconds")
        if now > exp + LEEWAY_S:
            raise InvalidToken("token has expired")
        nbf = claims.get("nbf", now)
        if not _seconds(nbf):
            raise InvalidToken("token nbf must be a finite number of seconds")
        if now + LEEWAY_S < nbf:
            raise InvalidToken("token is not valid yet (nbf)")
        if claims.get("iss") != self.issuer:
            raise InvalidToken(f"token issuer must be {self.issuer!r}")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidToken(f"token audience must include {self.audience!r}")
        return claims


def _seconds(value: object) -> TypeGuard[float]:
    """A JSON number that is a time: finite, and not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not a JSON number")


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or InvalidToken."""
    if not authorization:
        raise InvalidToken("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be 'Bearer <token>'")
    return token.strip()


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway's JWT authorizer fills it: claims as strings
    (API Gateway flattens them) and the scopes as a list."""
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) else None
    flat = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in claims.items()}
    return {"jwt": {"claims": flat, "scopes": scopes}}
