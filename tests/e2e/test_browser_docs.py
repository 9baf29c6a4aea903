"""A real browser on the local runtime's Swagger UI: authorize with a demo token, call GET /contracts.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`); without it the test
fails, it is not skipped. The page must load nothing but the local runtime (offline docs).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import seats_local

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / "test-artifacts" / "docs.png"
DEMO_USER = "u-alice"
DEMO_CONTRACTS = ("110000000001", "110000000002")  # managed by u-alice in infra/local/demo_seed.json

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def api_url(local_stack) -> str:
    """The shared demo runtime of tests/e2e/conftest.py (`seats-local start` on free ports)."""
    return local_stack.api_url


@pytest.fixture(scope="module")
def demo_token() -> str:
    answer = subprocess.run(seats_local("token", DEMO_USER), cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=60)
    return answer.stdout.strip()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_swagger_ui_authorizes_with_a_demo_token_and_lists_the_demo_contracts(api_url, demo_token):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium "
                    "(apt-get update && apt-get install -y chromium); CI installs it")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        response, shown, elsewhere = authorize_and_list_contracts(page, api_url, demo_token)

        assert response.request.headers.get("authorization") == f"Bearer {demo_token}"
        assert response.status == 200, response.text()
        for contract_id in DEMO_CONTRACTS:
            assert contract_id in shown
        assert elsewhere == [], "the docs page must load nothing from the network"


def authorize_and_list_contracts(page: Any, api_url: str, token: str) -> tuple[Any, str, list[str]]:
    """Swagger UI: Authorize with `token`, then GET /contracts with Try it out / Execute. Returns the
    response, the text of the response panel, and the URLs outside the runtime the page asked for."""
    elsewhere: list[str] = []

    def local_only(route):
        if route.request.url.startswith(api_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{api_url}/docs")

    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").first.fill(token)
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()

    operation = page.locator(".opblock.opblock-get", has=page.locator('[data-path="/contracts"]')).first
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    with page.expect_response(lambda r: r.url.startswith(f"{api_url}/contracts")) as answered:
        operation.locator("button.execute").click()
    operation.locator(".live-responses-table .response-col_description .microlight").first.wait_for()
    shown = operation.locator(".live-responses-table").inner_text()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    return answered.value, shown, elsewhere
