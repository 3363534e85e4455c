"""Debian's Chromium driven by Playwright for Python: the dashboard as an operator's browser sees it.

Never Playwright's own browser download: the machine's /usr/bin/chromium
(``scripts/test`` installs the Debian package). Without it the tests fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.dashboard_site import seed, token

CHROMIUM = Path(os.environ.get("SYNDICATE_CHROMIUM", "/usr/bin/chromium"))
OFFICE_SCREEN = {"width": 1366, "height": 768}


# Module scope, not session: Playwright's sync API holds an event loop on this thread while
# it runs, and tests after these (asyncio.run in the engine) need the thread back.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/test does)")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield found
        found.close()


@pytest.fixture
def engine(sink: HttpSink, tmp_path: Path) -> Iterator[Syndicator]:
    # Playwright's sync API keeps an event loop on this thread; the seeding worker needs its own.
    with ThreadPoolExecutor(1) as pool:
        seeded = pool.submit(seed, sink, tmp_path).result()
    with seeded as s:
        yield s


@pytest.fixture
def site(engine: Syndicator) -> Iterator[ApiServer]:
    with ApiServer(engine, worker=True) as server:
        yield server


@pytest.fixture
def context(browser: Browser, site: ApiServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=site.url, viewport=OFFICE_SCREEN, locale="zh-CN", accept_downloads=True
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab; whatever the test did, the screen it ended on is saved under its tmp folder."""
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    yield tab
    tab.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    tab.close()


def sign_in(page: Page, secret: str) -> None:
    page.goto("/")
    page.get_by_label("API 令牌").fill(secret)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/")


@pytest.fixture
def operator(page: Page, engine: Syndicator) -> Page:
    sign_in(page, token(engine, Scope.read, Scope.operate))
    return page
