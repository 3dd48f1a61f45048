"""Sign-in in a real browser: the dashboard's authorization code flow with PKCE against a fake
Cognito hosted UI (tests.e2e.fake_oauth), with `/config.json` pointing at it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.fake_api import TOKEN, FakeApi
from tests.e2e.fake_oauth import (
    CLIENT_ID,
    FULL_SCOPES,
    FakeOAuth,
    make_oauth_handler,
    make_site_handler,
    s256,
    start,
)

SHOTS = Path(os.environ.get("E2E_SIGNIN_SHOTS", "/work/tmp2/signin_shots"))


@pytest.fixture(scope="module")
def servers(web_dist: Path) -> Iterator[tuple[FakeApi, FakeOAuth, str]]:
    api, oauth = FakeApi(dist=web_dist), FakeOAuth()
    idp, oauth.base = start(make_oauth_handler(oauth))
    site, base = start(make_site_handler(api, oauth))
    oauth.redirect_uri = f"{base}/"
    yield api, oauth, base
    for server in (site, idp):
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(servers: tuple[FakeApi, FakeOAuth, str]) -> tuple[FakeApi, FakeOAuth, str]:
    api, oauth, _ = servers
    api.reset()
    oauth.reset()
    return servers


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def storage(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return page.evaluate("Object.fromEntries(Object.entries(sessionStorage))")


def sign_in(page, oauth: FakeOAuth, base: str, route: str = "dashboard") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/#/{route}")
    page.wait_for_url(f"{oauth.base}/oauth2/authorize?*")
    page.locator("#approve").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/#/{route}$"))


def test_first_load_goes_to_the_hosted_ui_with_an_s256_challenge_and_a_state(page, env) -> None:
    api, oauth, base = env
    page.goto(f"{base}/#/trading")
    page.wait_for_url(f"{oauth.base}/oauth2/authorize?*")
    shot(page, "1_hosted_ui")

    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{base}/"
    assert query["scope"] == FULL_SCOPES
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert len(query["state"]) >= 32
    assert oauth.token_requests == []
    assert [r for r in api.requests if r["path"] != "/api/health"] == []


def test_the_round_trip_signs_in_shows_data_and_cleans_the_url(page, env) -> None:
    api, oauth, base = env
    sign_in(page, oauth, base, "trading")

    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    expect(page.get_by_test_id("signed-in-user")).to_have_text("trader@example.com")
    expect(page.get_by_test_id("view-only-badge")).to_have_count(0)
    expect(page.get_by_test_id("emergency-stop")).to_be_enabled()
    page.goto(f"{base}/#/dashboard")
    expect(page.get_by_test_id("pnl-today")).to_have_text("$367.50")
    shot(page, "2_signed_in")

    assert "code=" not in page.url and "state=" not in page.url
    (exchange,) = oauth.token_requests
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["redirect_uri"] == f"{base}/"
    assert 43 <= len(exchange["code_verifier"]) <= 128
    saved = storage(page)
    assert saved["smart0dte.token"] in oauth.issued and saved["smart0dte.refresh"] in oauth.refresh_tokens
    assert "smart0dte.pkce" not in saved
    assert page.evaluate("localStorage.length") == 0
    authed = [r for r in api.requests if r["path"] != "/api/health"]
    assert authed and all(r["auth"] == f"Bearer {TOKEN}" for r in authed)  # the issued token, accepted


def test_a_tampered_state_shows_an_error_and_requests_no_token(page, env) -> None:
    api, oauth, base = env
    oauth.tamper_state = True
    page.goto(f"{base}/#/dashboard")
    page.wait_for_url(f"{oauth.base}/oauth2/authorize?*")
    page.locator("#approve").click()

    expect(page.get_by_test_id("sign-in-error")).to_contain_text("state mismatch")
    shot(page, "3_state_mismatch")
    assert oauth.token_requests == []
    assert "code=" not in page.url and "state=" not in page.url
    assert "smart0dte.token" not in storage(page)
    assert [r for r in api.requests if r["path"] != "/api/health"] == []


def test_the_token_endpoint_takes_only_the_verifier_of_the_challenge(page, env) -> None:
    _api, oauth, base = env
    sign_in(page, oauth, base)
    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    (exchange,) = oauth.token_requests
    assert s256(exchange["code_verifier"]) == oauth.authorizations[0]["code_challenge"]
    assert oauth.token(exchange)[0] == 400  # a code works once

    oauth.authorize({**oauth.authorizations[0], "state": "s"})
    (code,) = oauth.codes
    refused = oauth.token({**exchange, "code": code, "code_verifier": "x" * 64})
    assert refused == (400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})


def test_sign_out_clears_the_session_and_leaves_through_the_hosted_ui(page, env) -> None:
    _api, oauth, base = env
    sign_in(page, oauth, base)
    expect(page.get_by_test_id("pnl-today")).to_have_text("$367.50")
    assert "smart0dte.token" in storage(page)

    page.get_by_test_id("sign-out").click()
    # Cognito's /logout sends the browser back; with no token the dashboard asks to sign in again.
    page.wait_for_url(f"{oauth.base}/oauth2/authorize?*")
    assert oauth.logouts == [{"client_id": CLIENT_ID, "logout_uri": f"{base}/"}]
    page.goto(f"{base}/nothing-here")  # any page of the dashboard's origin, to read its storage
    assert set(storage(page)) <= {"smart0dte.pkce"}


def test_a_read_only_sign_in_shows_view_only_and_disables_changes(page, env) -> None:
    _api, oauth, base = env
    oauth.scope, oauth.username = "openid smart0dte/read", "viewer@example.com"
    sign_in(page, oauth, base, "trading")

    expect(page.get_by_test_id("signed-in-user")).to_have_text("viewer@example.com")
    expect(page.get_by_test_id("view-only-badge")).to_be_visible()
    expect(page.get_by_test_id("state-indicator")).to_have_text("ACTIVE")
    for control in ("emergency-stop", "pause", "resume"):
        expect(page.get_by_test_id(control)).to_be_disabled()
    shot(page, "4_view_only")


def test_a_refused_token_gets_one_silent_refresh_then_a_banner_not_a_loop(page, env) -> None:
    _api, oauth, base = env
    sign_in(page, oauth, base)
    expect(page.get_by_test_id("pnl-today")).to_have_text("$367.50")

    oauth.revoke_all()  # the API refuses the token: one refresh, and the page carries on
    page.goto(f"{base}/#/audit")
    expect(page.get_by_test_id("audit-table")).to_contain_text("Settings changed by user:alice")
    assert [r["grant_type"] for r in oauth.token_requests] == ["authorization_code", "refresh_token"]

    oauth.revoke_all()
    original = oauth.accepts
    oauth.accepts = lambda token: False  # type: ignore[method-assign]
    try:
        page.goto(f"{base}/#/dashboard")
        expect(page.get_by_test_id("auth-banner")).to_contain_text("Token missing or expired")
        page.wait_for_timeout(1500)
        grants = [r["grant_type"] for r in oauth.token_requests]
        assert grants.count("refresh_token") <= 3 and len(oauth.authorizations) == 1  # no redirect loop
        assert page.url.startswith(base)
        shot(page, "5_refused_banner")
    finally:
        oauth.accepts = original  # type: ignore[method-assign]


def test_an_expiring_token_is_refreshed_before_it_runs_out(page, env) -> None:
    _api, oauth, base = env
    oauth.lifetime_s = 62  # refreshed 60 s before expiry: about 2 s after sign-in
    sign_in(page, oauth, base)
    first = storage(page)["smart0dte.token"]
    page.wait_for_function("t => sessionStorage.getItem('smart0dte.token') !== t", arg=first, timeout=10_000)
    assert [r["grant_type"] for r in oauth.token_requests] == ["authorization_code", "refresh_token"]
    assert storage(page)["smart0dte.refresh"] in oauth.refresh_tokens
