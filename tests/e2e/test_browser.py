"""A new user's whole first hour, in headless Chromium against the live console, a real Celery worker with
beat, and the sandbox's moto server: set-up, an integration, a Scan and an Export collection reaching live
sync, a change arriving, pause and resume, and an API key. Each wizard step is screenshotted."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from playwright.sync_api import expect

from console.sandbox.seed import EXPORT_BUCKET, SANDBOX_ROLE, order_item, seed
from console.services import setup_token
from tests.e2e.browser import Browser, chromium_browser, chromium_path
from tests.processes import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = 240  # enough for several Scan pages, export files (100 items a file) and stream shards (40 records)
PASSWORD = "a long sandbox passphrase"
SANDBOX_ROLE_ARN = f"arn:aws:iam::123456789012:role/{SANDBOX_ROLE}"
LOAD_TIMEOUT = 60_000  # ms: the worker starts, the supervisor ticks every 5 s, the load and stream follow


@pytest.fixture
def sandbox(moto_server, settings) -> SimpleNamespace:
    """The sandbox `make run` offers (orders with every type, customers, the bucket, the role), smaller."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per moto request drowns a failure's output
    session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    seed(session, moto_server.endpoint, "us-east-1", orders=ORDERS, customers=20)
    settings.MILLRACE_AWS_ENDPOINT_URL = moto_server.endpoint  # the live server runs in this process
    return moto_server


@pytest.fixture
def browser(live_server, sandbox, broker, tmp_path) -> Iterator[Browser]:
    chromium_path()  # skip (or fail on CI) before starting anything when there is no browser
    env = {"MILLRACE_AWS_ENDPOINT_URL": sandbox.endpoint, "EMAIL_URL": f"filemail://{tmp_path / 'mail'}"}
    with (
        celery_worker(broker, beat=True, log=tmp_path / "worker.log", **env),
        chromium_browser(live_server.url, "new-user") as session,
    ):
        yield session


def test_a_new_user_syncs_a_sandbox_table_in_the_browser(browser: Browser, sandbox) -> None:
    page = browser.page
    first_run(browser)
    create_integration(browser)
    create_collection(browser, name="orders", method="scan")
    watch_it_reach_live_sync(browser, "Table Scan")
    the_load_took_about_the_wizards_estimate("orders", rcu=40)
    see_a_change_in_the_documents_browser(browser, sandbox, "orders", "ord-900001", status="browser-test")
    pause_and_resume(browser, sandbox, "orders", "ord-900002")
    create_collection(browser, name="orders-export", method="export")
    watch_it_reach_live_sync(browser, "Export using S3")
    see_a_change_in_the_documents_browser(browser, sandbox, "orders-export", "ord-900003", status="after-export")
    api_keys(browser)
    browser.follow(page.get_by_role("link", name="Overview"))
    assert page.locator(".stat").nth(1).inner_text() == "2"  # two collections
    assert page.locator(".stat").nth(2).inner_text() == "running"  # the worker and beat report in
    browser.check_links()
    browser.assert_no_problems()


def first_run(browser: Browser) -> None:
    page = browser.page
    browser.goto("/")
    assert page.url.endswith("/setup/"), "a fresh install sends every visitor to the set-up page"
    assert page.get_by_role("heading", name="Set up Millrace").is_visible()
    browser.shot("setup")
    page.get_by_label("Setup token").fill(setup_token())  # what the server printed in its log
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Organisation").fill("Analytical Engines")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    browser.follow(page.get_by_role("button", name="Create account"))
    assert page.get_by_text("Welcome to Millrace").is_visible()
    assert page.get_by_text("ada · Analytical Engines").is_visible()
    assert page.get_by_text("Sandbox.").is_visible(), "the sandbox banner says no real AWS is touched"
    browser.shot("overview")


def create_integration(browser: Browser) -> None:
    page = browser.page
    browser.follow(page.get_by_role("link", name="Create an integration"))
    assert page.title().startswith("New integration · step 1 of 4")
    page.get_by_label("Name", exact=True).fill("sandbox")
    page.get_by_label("All tables").check()
    page.locator("#id_scope-region").fill("us-east-1")
    page.get_by_label("S3 bucket for exports").fill(EXPORT_BUCKET)
    browser.shot("integration-1-scope")
    continue_to(browser, "Continue", "step 2 of 4")
    assert page.get_by_text('"dynamodb:Scan"').first.is_visible(), "the generated IAM policy is shown"
    browser.shot("integration-2-policy")
    continue_to(browser, "Continue", "step 3 of 4")
    page.get_by_label("Cross-account IAM role").check()
    assert page.locator("#principal").inner_text() == "arn:aws:sts::123456789012:user/moto", "Millrace's principal"
    assert page.locator("#external-id").inner_text().strip(), "the organisation's External ID is shown"
    page.get_by_label("Role ARN").fill(SANDBOX_ROLE_ARN)
    browser.shot("integration-3-access")
    continue_to(browser, "Check access", "step 4 of 4")
    assert page.get_by_text("Every essential check passed.").is_visible()
    browser.shot("integration-4-validate")
    browser.follow(page.get_by_role("button", name="Save integration"))
    assert page.get_by_role("heading", name=re.compile("sandbox")).is_visible()
    browser.shot("integration-saved")


def continue_to(browser: Browser, button: str, title_part: str) -> None:
    browser.follow(browser.page.get_by_role("button", name=button, exact=True))
    errors = browser.page.locator(".errorlist").all_inner_texts()
    assert title_part in browser.page.title(), f"stayed on {browser.page.title()!r}: {errors}"


def create_collection(browser: Browser, *, name: str, method: str) -> None:
    page = browser.page
    browser.follow(page.get_by_role("link", name="Collections", exact=True))
    browser.follow(page.get_by_role("link", name=re.compile("Create( a)? collection")).first)
    assert page.title().startswith("New collection · step 1 of 6")
    page.get_by_label("Integration").select_option(label="sandbox")
    page.get_by_text(re.compile(r"\d+ tables? in us-east-1")).wait_for()  # htmx fetched the table list
    page.get_by_label("Table", exact=True).fill("orders")
    browser.shot(f"{name}-1-source")
    continue_to(browser, "Continue", "step 2 of 6")
    preview = page.locator("#preview table.preview")
    preview.wait_for()  # htmx loaded the preview of 20 converted items
    assert preview.locator("tbody tr").count() == 20
    assert page.get_by_text("Provisioned, 100 RCU").is_visible()
    browser.shot(f"{name}-2-table")
    continue_to(browser, "Continue", "step 3 of 6")
    if method == "scan":
        page.get_by_role("radio", name=re.compile("^Table Scan")).check()
        page.locator("#rcu").fill("40")
        assert page.locator("[data-rcu-output]").inner_text() == "40"
        assert page.locator("[data-rcu-estimate]").inner_text() != "—", "the load time is estimated"
    else:
        page.get_by_role("radio", name=re.compile("^Export using S3")).check()
    browser.shot(f"{name}-3-method")
    continue_to(browser, "Continue", "step 4 of 6")
    assert page.get_by_text("is on with NEW_AND_OLD_IMAGES").is_visible()
    browser.shot(f"{name}-4-stream")
    continue_to(browser, "Continue", "step 5 of 6")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Stream poll frequency").fill("0.5")
    browser.shot(f"{name}-5-name")
    continue_to(browser, "Continue", "step 6 of 6")
    assert page.get_by_role("heading", name=f"commons.{name}").is_visible()
    browser.shot(f"{name}-6-review")
    browser.follow(page.get_by_role("button", name="Create collection"))
    assert page.get_by_text(f"Collection commons.{name} is created").is_visible()


def watch_it_reach_live_sync(browser: Browser, load_method: str) -> None:
    """The status block polls (htmx) until the load is done and the stream is followed."""
    page = browser.page
    name = page.locator("h1").inner_text().split()[0]
    assert page.get_by_text(load_method).first.is_visible()
    browser.shot(f"{name}-loading")
    status = page.locator("#status")
    status.get_by_text("PROCESSING_STREAM").wait_for(timeout=LOAD_TIMEOUT)
    status.get_by_text("caught up", exact=True).wait_for(timeout=LOAD_TIMEOUT)
    assert status.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
    expect(page.locator("h1 .badge")).to_have_text("live")  # the heading's badge follows the polled status
    if load_method == "Export using S3":
        assert status.get_by_text(re.compile(r"from \d+ export files")).is_visible()
        # the Source card follows too: the export's folder, and a button to delete it now it is loaded
        expect(page.locator("#export-folder")).to_contain_text(f"s3://{EXPORT_BUCKET}/")
        assert page.locator("#export-folder").get_by_role("link", name="Delete export files…").is_visible()
    assert status.get_by_text(f"{ORDERS} of about").is_visible() or status.get_by_text("100.0 %").is_visible()
    browser.shot(f"{name}-streaming")
    browser.assert_no_problems()


def the_load_took_about_the_wizards_estimate(name: str, rcu: int) -> None:
    """The wizard's estimate comes from the engine's pacing model (collections_app/capacity.py); here it meets
    a real load on the sandbox, from its first page to its last (the start, a worker taking the task, is the
    estimate's fixed part). Within a factor of 3 either way, or 2 s for a load of a few round trips: the
    machine running the tests may be busy, and the estimate assumes AWS's round trips, not moto's."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from collections_app import capacity
    from collections_app.models import Source

    def measured() -> tuple[int, float, float]:  # in a thread of its own: Playwright's loop runs in this one
        try:
            source = Source.objects.select_related("collection").get(collection__name=name)
            size = max(source.collection.total_size_bytes, source.table_size_bytes)
            items = max(source.collection.doc_count, source.table_item_count, 1)
            took = (source.load_finished_at - source.load_started_at).total_seconds()
            return items, capacity.scan_pacing_seconds(size, rcu, item_bytes=size / items), took
        finally:
            connection.close()  # this thread's own, so that the test database can be dropped at the end

    with ThreadPoolExecutor(1) as pool:
        items, estimate, took = pool.submit(measured).result()
    logging.getLogger(__name__).warning("scan of %s items at %s RCU: estimated %.1f s, took %.1f s", items, rcu,
                                        estimate, took)  # fmt: skip
    slack = max(3 * estimate, estimate + 2) - estimate  # a small table's load is over in a few round trips
    # The estimate is for a worker with a CPU to itself: on a machine with more runnable processes than CPUs
    # every step waits its turn, so the upper bound stretches by that factor (the lower one is the budget's).
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    said = f"estimated {estimate:.1f} s, took {took:.1f} s, load {busy:.1f}× the CPUs"
    assert estimate - slack <= took <= estimate + slack * busy, said


def put_order(sandbox, order_id: str, status: str) -> None:
    import random

    item = order_item(1, random.Random(1)) | {"order_id": {"S": order_id}, "status": {"S": status}}
    sandbox.dynamodb.put_item(TableName="orders", Item=item)


def see_a_change_in_the_documents_browser(browser: Browser, sandbox, name: str, order_id: str, status: str) -> None:
    put_order(sandbox, order_id, status)
    find_in_documents(browser, name, order_id, status)


def find_in_documents(browser: Browser, name: str, order_id: str, status: str) -> None:
    """Look the order up in the collection's documents browser until it shows `status`."""
    page = browser.page
    browser.follow(page.get_by_role("link", name="Browse documents"))
    assert page.get_by_role("heading", name="Documents").is_visible()
    look_up(browser, order_id)
    for _ in range(30):  # the change arrives within a second or two; look again like a person would
        if page.get_by_text(f'"status": "{status}"').is_visible():
            break
        page.wait_for_timeout(500)
        look_up(browser, order_id)
    assert page.get_by_text(f'"status": "{status}"').is_visible(), f"{order_id} never reached {name}"
    browser.shot(f"{name}-documents")
    browser.follow(page.get_by_role("link", name=re.compile(f"← commons.{name}")))


def look_up(browser: Browser, order_id: str) -> None:
    browser.page.get_by_label("order_id").fill(order_id)
    browser.follow(browser.page.get_by_role("button", name="Look up"))


def pause_and_resume(browser: Browser, sandbox, name: str, order_id: str) -> None:
    page = browser.page
    browser.follow(page.get_by_role("link", name="Pause"))  # it asks first
    assert page.get_by_role("heading", name=f"Pause commons.{name}?").is_visible()
    browser.follow(page.get_by_role("button", name="Pause"))
    assert page.get_by_text("Paused. Millrace keeps its place in the stream").is_visible()
    assert page.locator("h1 .badge").inner_text() == "paused"
    assert page.locator("#status").get_by_text("paused", exact=True).is_visible()
    browser.shot(f"{name}-paused")
    put_order(sandbox, order_id, "written-while-paused")
    browser.follow(page.get_by_role("button", name="Resume"))
    assert page.get_by_text("Resumed from where it stopped.").is_visible()
    page.locator("#status").get_by_text("caught up", exact=True).wait_for(timeout=LOAD_TIMEOUT)
    browser.shot(f"{name}-resumed")
    find_in_documents(browser, name, order_id, "written-while-paused")


def api_keys(browser: Browser) -> None:
    page = browser.page
    browser.follow(page.get_by_role("link", name="API keys"))
    assert page.get_by_text("No keys yet.").is_visible()
    page.get_by_label("Name").fill("ci-loader")
    browser.follow(page.get_by_role("button", name="Create key"))
    assert page.get_by_text("Copy your new key now. It won't be shown again.").is_visible()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("mr_")
    row = page.get_by_role("row", name=re.compile("ci-loader"))
    assert row.get_by_text(f"mr_…{key[-4:]}").is_visible() and row.get_by_text("active").is_visible()
    browser.shot("api-key-created")
    page.goto(page.url)
    browser.check()
    assert not page.get_by_text(key).count(), "the key is shown once only"
    browser.follow(row.get_by_role("link", name="Revoke…"))  # asks first: nothing is revoked by one click
    assert page.get_by_role("heading", name=re.compile("Revoke your API key “ci-loader”")).is_visible()
    browser.shot("api-key-revoke-asked")
    browser.follow(page.get_by_role("button", name="Revoke key"))
    assert page.get_by_role("row", name=re.compile("ci-loader")).get_by_text("revoked").is_visible()
    browser.shot("api-key-revoked")
