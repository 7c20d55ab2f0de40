"""The issue's "done when", tried as a new user would: in the console, save the status query as a Query
Lambda and tag it `prod`; run the README's Python client snippet (its text, with this server's address and
a key) with a new `since`; change the lambda, move `prod` to the new version and back, and the snippet's
answer follows each move."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console.services import api_key_create
from tests.conftest import PASSWORD
from tests.e2e.browser import Browser, chromium_browser, chromium_path
from tests.queries.sample import add_collection

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[2] / "README.md"
SQL = "SELECT status, COUNT(*) AS n FROM commons.orders WHERE placed_at > :since GROUP BY status"
STATUSES = ["shipped", "pending", "shipped", "cancelled", "shipped", "pending"]  # placed a day apart from Jan 1


@pytest.fixture
def app_key(people) -> str:
    """Made before the browser starts: Django refuses ORM calls while Playwright's loop runs."""
    return api_key_create(user=people.alice, organisation=people.acme, name="app")[1]


@pytest.fixture
def browser(people, live_server) -> Iterator[Browser]:
    chromium_path()
    docs = [{"id": str(i), "status": s, "placed_at": f"2026-01-{i + 1:02}T00:00:00Z"} for i, s in enumerate(STATUSES)]
    add_collection(people.acme, "commons", "orders", docs)
    with chromium_browser(live_server.url, "lambdas") as session:
        session.goto("/login/")
        session.page.fill("input[name=username]", "alice")
        session.page.fill("input[name=password]", PASSWORD)
        session.follow(session.page.locator("button[type=submit]"))
        yield session


def readme_snippet() -> str:
    """The README's Python block that calls a lambda by tag, as a reader would copy it."""
    section = README.read_text().split("### Query Lambdas, Views and Aliases", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return next(b for b in blocks if "execute_query_lambda_by_tag" in b)


def run_snippet(base_url: str, key: str, since: str) -> list[dict]:
    code = readme_snippet()
    assert 'value="2026-01-02T00:00:00Z"' in code and 'tag="prod"' in code
    code = code.replace("mr_…your key…", key).replace("http://127.0.0.1:8000", base_url)
    code = code.replace('value="2026-01-02T00:00:00Z"', f'value="{since}"').replace("print(", "(")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own snippet
    return sorted(namespace["response"].results, key=lambda r: r["status"])


def save_from_editor(browser: Browser, sql: str) -> None:
    page = browser.page
    browser.goto("/queries/")
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(sql)
    page.keyboard.press("Control+Enter")  # the first Run finds `:since` and asks for its value
    expect(page.locator("select[name='type:since']")).to_be_visible()
    page.select_option("select[name='type:since']", "timestamp")
    page.fill("input[name='value:since']", "2025-12-31T00:00:00Z")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".query-stats")).to_contain_text("3 rows")
    page.locator(".save-lambda summary").click()
    page.fill("#lambda-name", "status_counts")
    page.get_by_role("button", name="Save as lambda").click()
    expect(page).to_have_url(re.compile(r"/queries/lambdas/commons/status_counts/$"))


def set_prod(browser: Browser, version: int) -> None:
    page = browser.page
    browser.goto("/queries/lambdas/commons/status_counts/")
    page.fill("#tag-name", "prod")
    page.select_option("#tag-version", label=f"version {version}")
    page.get_by_role("button", name="Set tag").click()
    expect(page.locator(".messages")).to_contain_text(f"Tag prod now points at version {version}")


def test_save_tag_call_by_the_readme_snippet_change_and_roll_back(app_key: str, browser: Browser, live_server) -> None:
    key = app_key
    save_from_editor(browser, SQL)
    set_prod(browser, 1)
    first = run_snippet(live_server.url, key, "2026-01-03T12:00:00Z")  # orders 3, 4 and 5 (from 0)
    assert first == [{"status": "cancelled", "n": 1}, {"status": "pending", "n": 1}, {"status": "shipped", "n": 1}]

    save_from_editor(browser, SQL.replace("COUNT(*) AS n", "COUNT(*) * 100 AS n"))
    page = browser.page
    expect(page.locator("#versions")).to_contain_text("Changes from version 1 to 2")
    assert run_snippet(live_server.url, key, "2026-01-03T12:00:00Z") == first  # `prod` stayed on version 1
    set_prod(browser, 2)
    assert run_snippet(live_server.url, key, "2026-01-03T12:00:00Z") == [{**r, "n": r["n"] * 100} for r in first]
    set_prod(browser, 1)
    assert run_snippet(live_server.url, key, "2026-01-03T12:00:00Z") == first
    expect(page.locator("#tags")).to_contain_text("prod")
    browser.shot("lambda-page")
    browser.assert_no_problems()
