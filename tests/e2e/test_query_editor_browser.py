"""The query editor in headless Chromium, as a member uses it: CodeMirror under the site's
Content-Security-Policy, Ctrl-Enter, the result swapped in by htmx, the fields of a collection, an error's
place in the SQL, and no sideways scroll on a phone or a laptop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.browser import Browser, chromium_browser, chromium_path

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(orders, live_server) -> Iterator[Browser]:
    chromium_path()
    with chromium_browser(live_server.url, "query-editor") as session:
        session.goto("/login/")
        session.page.fill("input[name=username]", "alice")
        session.page.fill("input[name=password]", PASSWORD)
        session.follow(session.page.locator("button[type=submit]"))
        yield session


def type_sql(browser: Browser, sql: str) -> None:
    page = browser.page
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(sql)


def test_a_member_runs_queries_in_the_editor(browser: Browser) -> None:
    page = browser.page
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        browser.goto("/queries/")
        type_sql(browser, "SELECT status, COUNT(*) AS n\nFROM commons.orders\nGROUP BY status\nORDER BY status")
        expect(page.locator(".CodeMirror .cm-keyword").first).to_have_text("SELECT")  # highlighted
        page.keyboard.press("Control+Enter")
        expect(page.locator(".query-stats")).to_contain_text("3 rows")
        expect(page.locator(".result-table tbody tr").first).to_contain_text("cancelled")
        assert "?query=" in page.url  # htmx pushed the query's address: a reload shows it again
        page.locator(".result-json summary").click()
        expect(page.locator(".result-json pre")).to_contain_text('"status":"shipped"')

        page.locator("a", has_text="commons.customers").click()
        expect(page.locator("#query-fields")).to_contain_text("city")

        type_sql(browser, "SELECT *\nFROM commons.nowhere")
        page.keyboard.press("Control+Enter")
        expect(page.locator(".query-error")).to_contain_text("Line 2, column 6")
        cursor = page.evaluate(
            "(({line, ch}) => ({line, ch}))(document.querySelector('.CodeMirror').CodeMirror.getCursor())"
        )
        assert cursor == {"line": 1, "ch": 5}  # CodeMirror counts from 0: line 2, column 6

        type_sql(browser, "SELECT _id FROM orders\nWHERE amount >= :min\nORDER BY _id")
        page.keyboard.press("Control+Enter")
        expect(page.locator(".query-outcome")).to_contain_text("This query uses :min: give it a type and a value")
        page.select_option("select[name='type:min']", "int")
        page.fill("input[name='value:min']", "25")
        page.get_by_role("button", name="Run").click()
        expect(page.locator(".query-stats")).to_contain_text("2 rows")

        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"sideways scroll at {width} px: {widths}"
        browser.shot(f"editor-{width}")
        browser.assert_no_problems()


def test_cancel_stops_a_running_query_from_the_editor(browser: Browser) -> None:
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 900})
    browser.goto("/queries/")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_hidden()  # nothing runs yet
    endless = "SELECT COUNT(*) AS n FROM orders a " + " ".join(f"CROSS JOIN orders j{i}" for i in range(16))
    type_sql(browser, endless)
    page.keyboard.press("Control+Enter")
    expect(cancel).to_be_visible()
    browser.shot("editor-running-390")
    cancel.click()
    expect(page.locator(".query-error")).to_contain_text("The query was cancelled.", timeout=20_000)
    expect(cancel).to_be_hidden()
    browser.shot("editor-cancelled-390")
    browser.assert_no_problems()
