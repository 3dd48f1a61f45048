"""A fake Cognito hosted UI for the sign-in browser tests, and a site server wired to it.

`FakeOAuth` serves, on its own 127.0.0.1 port (so its own origin, like the Cognito domain):
- `GET /oauth2/authorize`: checks the client, the redirect URI and the S256 challenge, records
  the challenge against a fresh code, and shows a sign-in page whose "Sign in" link goes back to
  `redirect_uri?code=...&state=...` (`tamper_state` alters the state on the way back);
- `POST /oauth2/token`: `authorization_code` (the code once, the same redirect URI, and a
  `code_verifier` whose SHA-256 matches the recorded challenge; 400 `invalid_grant` otherwise)
  and `refresh_token`; answers with unsigned JWT access tokens carrying `username`, `scope`, `exp`;
- `GET /logout`: records the call and sends the browser to `logout_uri`.

`serve_site` serves web/dist, a `/config.json` pointing at the fake, and `/api/*` from
tests.e2e.fake_api's FakeApi, accepting exactly the access tokens the fake issued.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.e2e.fake_api import TOKEN, FakeApi, make_handler

CLIENT_ID = "e2e-dashboard-client"
FULL_SCOPES = "openid smart0dte/read smart0dte/trade"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def unsigned_jwt(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.sig"


@dataclass
class FakeOAuth:
    redirect_uri: str = ""
    username: str = "trader@example.com"
    scope: str = FULL_SCOPES
    lifetime_s: int = 3600
    tamper_state: bool = False
    issue_refresh: bool = True
    base: str = ""
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    issued: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.username, self.scope, self.lifetime_s = "trader@example.com", FULL_SCOPES, 3600
            self.tamper_state, self.issue_refresh = False, True
            for log in (self.authorizations, self.token_requests, self.logouts):
                log.clear()
            self.codes.clear()
            self.issued.clear()
            self.refresh_tokens.clear()

    def accepts(self, token: str) -> bool:
        with self.lock:
            return token in self.issued

    def revoke_all(self) -> None:
        """The API refuses every token issued so far (as after a key rotation)."""
        with self.lock:
            self.issued.clear()

    def _tokens(self) -> dict[str, Any]:
        access = unsigned_jwt(
            {
                "sub": "0000-e2e",
                "username": self.username,
                "scope": self.scope,
                "client_id": CLIENT_ID,
                "token_use": "access",
                "exp": int(time.time()) + self.lifetime_s,
                "jti": secrets.token_hex(8),
            }
        )
        self.issued.add(access)
        out: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime_s}
        if self.issue_refresh:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens.add(refresh)
            out["refresh_token"] = refresh
        return out

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, the sign-in page or the reason for refusing)."""
        with self.lock:
            self.authorizations.append(query)
            problems = [
                name
                for name, ok in (
                    ("response_type", query.get("response_type") == "code"),
                    ("client_id", query.get("client_id") == CLIENT_ID),
                    ("redirect_uri", query.get("redirect_uri") == self.redirect_uri),
                    ("code_challenge_method", query.get("code_challenge_method") == "S256"),
                    ("code_challenge", len(query.get("code_challenge", "")) == 43),
                    ("state", bool(query.get("state"))),
                )
                if not ok
            ]
            if problems:
                return 400, f"<p id=problem>bad authorize request: {', '.join(problems)}</p>"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"]}
            state = query["state"] + ("-tampered" if self.tamper_state else "")
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': state})}"
        page = (
            "<!doctype html><title>Fake hosted UI</title><h1>Fake Cognito sign-in</h1>"
            f'<p><a id="approve" href="{html.escape(back)}">Sign in as {html.escape(self.username)}</a></p>'
        )
        return 200, page

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.token_requests.append(form)
            if form.get("client_id") != CLIENT_ID:
                return 400, {"error": "invalid_client"}
            grant = form.get("grant_type")
            if grant == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return 400, {"error": "invalid_grant"}
                out = self._tokens()
                out.pop("refresh_token", None)  # Cognito keeps the refresh token unless rotating
                return 200, out
            if grant != "authorization_code":
                return 400, {"error": "unsupported_grant_type"}
            pending = self.codes.pop(form.get("code", ""), None)  # a code works once
            if pending is None or form.get("redirect_uri") != pending["redirect_uri"]:
                return 400, {"error": "invalid_grant"}
            if s256(form.get("code_verifier", "")) != pending["challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            return 200, self._tokens()


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def make_oauth_handler(oauth: FakeOAuth) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/oauth2/authorize":
                status, page = oauth.authorize(query)
                _send(self, status, page.encode(), "text/html; charset=utf-8")
            elif url.path == "/logout":
                with oauth.lock:
                    oauth.logouts.append(query)
                _send(self, 302, b"", "text/plain", Location=query.get("logout_uri", "/"))
            else:
                _send(self, 404, b"not found", "text/plain")

        def do_POST(self) -> None:
            cors = {"Access_Control_Allow_Origin": self.headers.get("Origin") or "*"}
            if urlsplit(self.path).path != "/oauth2/token":
                _send(self, 404, b"{}", "application/json", **cors)
                return
            if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
                _send(self, 400, b'{"error":"invalid_request"}', "application/json", **cors)
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            status, out = oauth.token(form)
            _send(self, status, json.dumps(out).encode(), "application/json", **cors)

    return Handler


def make_site_handler(api: FakeApi, oauth: FakeOAuth) -> type[BaseHTTPRequestHandler]:
    """The fake API's handler plus /config.json; a bearer token the fake issued stands for TOKEN."""
    base = make_handler(api)

    class Site(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/config.json":
                config = {
                    "auth": "cognito",
                    "cognitoDomain": oauth.base,
                    "clientId": CLIENT_ID,
                    "scopes": FULL_SCOPES.split(),
                    "redirectUri": oauth.redirect_uri,
                }
                _send(self, 200, json.dumps(config).encode(), "application/json")
                return
            super().do_GET()

        def _api(self, method: str) -> None:
            auth = self.headers.get("Authorization") or ""
            del self.headers["Authorization"]
            if auth.startswith("Bearer ") and oauth.accepts(auth.removeprefix("Bearer ")):
                self.headers["Authorization"] = f"Bearer {TOKEN}"
            elif auth:
                self.headers["Authorization"] = "Bearer refused"
            super()._api(method)

    return Site


def start(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
