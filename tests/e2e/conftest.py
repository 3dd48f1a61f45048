"""Browser-test fixtures: build web/dist if needed, serve it with the fake API, drive chromium.

Chromium comes from Debian (`apt-get install -y chromium`); Playwright's own browser download
is not used. Set E2E_SCREENSHOT_DIR to keep a screenshot per test (never commit them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.fake_api import TOKEN, FakeApi, serve

WEB = Path(__file__).resolve().parents[2] / "web"
DIST = WEB / "dist"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 375, "height": 740}


def _newest_source_mtime() -> float:
    files = [WEB / "index.html", WEB / "package.json", WEB / "package-lock.json", WEB / "vite.config.js"]
    files += [p for p in (WEB / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, cwd=WEB, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` in web/ failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """web/dist, built with `npm ci && npm run build` when missing or older than its sources."""
    index = DIST / "index.html"
    if index.exists() and index.stat().st_mtime >= _newest_source_mtime():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to build web/dist (install Node.js 20+)")
    lock = WEB / "package-lock.json"
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        _run([npm, "ci", "--no-audit", "--no-fund"])
    _run([npm, "run", "build"])
    return DIST


@pytest.fixture(scope="session")
def fake_api(web_dist: Path) -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi(dist=web_dist)
    server, base = serve(api)
    yield api, base
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(fake_api: tuple[FakeApi, str]) -> FakeApi:
    fake_api[0].reset()
    return fake_api[0]


@pytest.fixture
def base_url(fake_api: tuple[FakeApi, str]) -> str:
    return fake_api[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session", autouse=True)
def _patient_expectations() -> None:
    """Two shared cores under load: give assertions more than Playwright's default 5 s."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)


def _new_page(browser, request: pytest.FixtureRequest, viewport: dict[str, int]):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return context, page


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A laptop-sized page; fails the test on any uncaught JavaScript error."""
    context, page = _new_page(browser, request, LAPTOP)
    yield page
    _finish(page, context, request)


@pytest.fixture
def phone_page(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    context, page = _new_page(browser, request, PHONE)
    yield page
    _finish(page, context, request)


def _finish(page, context, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    shots = os.environ.get("E2E_SCREENSHOT_DIR")
    try:
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
            page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
        assert not page.js_errors, f"uncaught JavaScript errors: {page.js_errors}"
    finally:
        context.close()


def open_page(page, base_url: str, route: str, token: str | None = TOKEN) -> None:  # type: ignore[no-untyped-def]
    query = f"?token={token}" if token else ""
    page.goto(f"{base_url}/{query}#/{route}")
