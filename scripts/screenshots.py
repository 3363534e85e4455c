"""Regenerate the README's dashboard screenshots: ``.venv/bin/python scripts/screenshots.py``.

Seeds the small trading center the browser tests use (tests/dashboard_site.py),
serves it on loopback with its worker, signs in with Debian's Chromium at
1366×768 and saves the overview and a notice's detail to docs/screenshots/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from syndicate.demo.http_sink import HttpSink  # noqa: E402
from syndicate.tokens import Scope  # noqa: E402
from tests.api_server import ApiServer  # noqa: E402
from tests.dashboard_site import DEAD, seed, token  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with HttpSink() as sink, tempfile.TemporaryDirectory() as folder:
        engine = seed(sink, Path(folder), hostile=False)
        secret = token(engine, Scope.read, Scope.operate, name="duty-officer")
        with ApiServer(engine) as site, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(
                base_url=site.url, viewport={"width": 1366, "height": 768}, locale="zh-CN"
            )
            page.goto("/login")
            page.get_by_label("API 令牌").fill(secret)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url("**/")
            page.screenshot(path=str(OUT / "overview.png"))
            page.goto(f"/notices/{DEAD}#v1")
            page.locator("#d-1-city-portal summary").click()
            page.locator("#d-1-city-portal .preview-body pre").first.wait_for()
            page.locator("#d-1-city-portal").scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / "notice.png"), full_page=True)
            page.goto("/notices")
            page.screenshot(path=str(OUT / "notices.png"))
            browser.close()
        engine.close()
    for name in ("overview", "notice", "notices"):
        print(OUT / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
