"""Every page on a phone (390 px) and a desktop (1366 px), in headless Chromium: none scrolls sideways, none
logs an error or loads something that fails. One browser and one live server for both widths, a world
written straight into the database (no worker, no AWS calls), screenshots under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from collections_app.models import Collection, Document, Source, Workspace
from console import help
from console.models import Heartbeat, Invitation, Organisation, hash_api_key
from console.services import api_key_create, first_admin_create
from ingest.models import LagAlert, ScanSegment, Shard
from integrations.models import Integration
from queries.lambdas import Author, lambda_create, lambda_update, tag_set
from queries.saved import alias_create, view_create
from tests.e2e.browser import CSP_LISTENER, ROOT, Browser, chromium_path

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1366)
SHOTS = ROOT / "test-artifacts" / "responsive"
PASSWORD = "a long responsive passphrase"
ROLE = "arn:aws:iam::123456789012:role/millrace-reader-with-a-rather-long-role-name"
# What is wider than the window, for the failure message: the outermost such elements.
WIDE = """() => {
  const limit = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > limit + 1);
  const outermost = wide.filter(e => !wide.includes(e.parentElement));
  const right = (e) => Math.round(e.getBoundingClientRect().right);
  return outermost.slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} (${right(e)} px)`);
}"""


@pytest.fixture
def world(db: None) -> SimpleNamespace:
    """Ada runs the installation and Acme; a live collection, one stopped with a long error, a pending
    invitation with a long address, an API key: each page with the content that made it too wide before."""
    ada = first_admin_create(username="ada", email="ada@acme.test", password=PASSWORD, organisation_name="Acme")
    acme = Organisation.objects.get(name="Acme")
    integration = Integration.objects.create(
        organisation=acme, name="production-eu-west-1", scope="all", role_arn=ROLE, s3_bucket="acme-exports-eu",
        status=Integration.Status.VALIDATED,
    )  # fmt: skip
    workspace = Workspace.objects.create(organisation=acme, name="commons")
    now = timezone.now()
    orders = Collection.objects.create(workspace=workspace, name="orders", status=Collection.Status.READY,
                                       doc_count=3, total_size_bytes=3000, last_updated_at=now)  # fmt: skip
    source = Source.objects.create(
        collection=orders, integration=integration, table_name="orders-production-eu", region="eu-west-1",
        load_method=Source.LoadMethod.EXPORT, state=Source.State.PROCESSING_STREAM, load_started_at=now,
        load_finished_at=now, items_expected=3, items_loaded=3, export_folder="exports/AWSDynamoDB/01234567-89ab",
        key_schema=[{"AttributeName": "order_id", "KeyType": "HASH", "AttributeType": "S"}],
        stream_last_record_at=now,
    )  # fmt: skip
    for n in range(3):
        body = {"order_id": f"ord-{n}", "note": "a long note " * 20, "items": [{"sku": "x" * 80, "qty": n}]}
        Document.objects.create(collection=orders, doc_id=f"ord-{n}", body=body, size_bytes=1000, event_time=now)
    broken = Collection.objects.create(workspace=workspace, name="customers-with-a-long-name")
    Source.objects.create(
        collection=broken, integration=integration, table_name="customers", region="eu-west-1",
        load_method=Source.LoadMethod.SCAN, rcu=50, state=Source.State.SCANNING, error_at=now,
        error="AccessDeniedException: User arn:aws:sts::123456789012:assumed-role/millrace-reader/millrace is "
        "not authorized to perform dynamodb:Scan on resource arn:aws:dynamodb:eu-west-1:123456789012:table/customers",
    )  # fmt: skip
    Invitation.objects.create(
        organisation=acme, email="someone.with.a.long.address@subsidiary.acme-corporation.test", role="member",
        token_hash=hash_api_key("t"), invited_by=ada, expires_at=now + timedelta(days=7),
    )  # fmt: skip
    key, _ = api_key_create(user=ada, organisation=acme, name="ci-loader-for-the-nightly-jobs")
    author = Author(email=ada.email)
    long_sql = ("SELECT note, COUNT(*) AS orders_with_this_rather_long_note FROM commons.orders "
                "WHERE order_id > :after GROUP BY note")  # fmt: skip
    after = [{"name": "after", "type": "string", "value": "ord-0"}]
    first = lambda_create(organisation=acme, workspace="commons", name="orders-by-note-for-the-dashboard", sql=long_sql,
                          default_parameters=after, author=author)  # fmt: skip
    lambda_update(organisation=acme, query_lambda=first.query_lambda, sql=long_sql.replace("COUNT(*)", "COUNT(*) + 0"),
                  default_parameters=first.default_parameters, author=author)  # fmt: skip
    tag_set(query_lambda=first.query_lambda, tag="production-dashboard", version=first.version)
    view_create(organisation=acme, workspace="commons", name="recent-orders-with-long-notes",
                query="SELECT order_id, note FROM commons.orders WHERE note IS NOT NULL", author=author)  # fmt: skip
    alias_create(organisation=acme, workspace="commons", name="live-orders-for-the-reporting-service",
                 collections=["commons.orders"], author=author)  # fmt: skip
    return SimpleNamespace(integration=integration, source=source, key=key)


@pytest.fixture(scope="module")
def chromium(live_server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    # Playwright's sync API keeps an event loop running in this thread while the browser is reused, and
    # Django then refuses the next test's ORM calls (the fixtures' set-up) as if they came from async code.
    # They don't: Playwright's own advice for Django tests is this switch, for the browser's lifetime only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def pages(w: SimpleNamespace) -> list[str]:
    c = "/collections/commons/orders"
    q = "/queries/lambdas/commons/orders-by-note-for-the-dashboard"
    return [
        "/", "/collections/", f"{c}/", f"{c}/documents/", f"{c}/edit/", f"{c}/resync/", f"{c}/delete/", f"{c}/pause/",
        f"{c}/delete-export/", "/collections/commons/customers-with-a-long-name/", "/collections/new/",
        "/integrations/", f"/integrations/{w.integration.pk}/", f"/integrations/{w.integration.pk}/delete/",
        "/api-keys/", f"/api-keys/{w.key.pk}/revoke/", "/api/", "/queries/lambdas/",
        f"{q}/", "/queries/views/", "/queries/aliases/", f"{q}/tags/production-dashboard/delete/", "/organisation/",
        "/admin/", "/help/",
        *(f"/help/{slug}/" for slug in help.sections()),
    ]  # fmt: skip


def visitor(session: Browser, prefix: str, too_wide: list[str]) -> Callable[[str], None]:
    """Look at the page the session is on: no error, nothing wider than the window, and a screenshot."""

    def visit(name: str) -> None:
        session.check()
        if problem := overflow(session):
            too_wide.append(problem)
        session.shot(f"{prefix}{name}")

    return visit


def overflow(session: Browser) -> str:
    """'' when the page fits the window; otherwise how wide it is and what sticks out."""
    width, inner = session.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width <= inner:
        return ""
    return f"{session.page.url} is {width} px wide in a {inner} px window: {', '.join(session.page.evaluate(WIDE))}"


def signed_in(chromium: object, base_url: str, width: int, too_wide: list[str] | None = None) -> Browser:
    """A fresh browser context (its own cookies) at this width, signed in as Ada; the login page is checked
    for width too when `too_wide` collects the findings."""
    context = chromium.new_context(viewport={"width": width, "height": 844 if width < 800 else 900})
    context.set_default_timeout(15_000)
    context.add_init_script(CSP_LISTENER)
    session = Browser(context.new_page(), base_url, SHOTS)
    for path in ("/password-reset/", "/login/"):
        session.goto(path)
        if too_wide is not None and (problem := overflow(session)):
            too_wide.append(problem)
        session.shot(f"{width}-{path.strip('/')}")
    session.page.get_by_label("Username").fill("ada")
    session.page.get_by_label("Password").fill(PASSWORD)
    session.follow(session.page.get_by_role("button", name="Log in"))
    return session


def test_no_page_scrolls_sideways_on_a_phone_or_a_desktop(world, chromium, live_server):
    too_wide: list[str] = []
    for width in WIDTHS:
        session = signed_in(chromium, live_server.url, width, too_wide)
        page = session.page
        context = page.context

        visit = visitor(session, f"{width}-", too_wide)

        for path in pages(world):
            session.goto(path)
            visit(path.strip("/").replace("/", "-") or "overview")
        # The integration wizard's policy step (the IAM table) is reached through its first step.
        session.goto("/integrations/new/")
        visit("integration-1-scope")
        page.get_by_label("Name", exact=True).fill("staging")
        page.get_by_label("All tables").check()
        page.locator("#id_scope-region").fill("eu-west-1")
        session.follow(page.get_by_role("button", name="Continue"))
        assert "step 2 of 4" in page.title()
        visit("integration-2-policy")
        if width < 800:  # the navigation is folded away behind one button, and opens
            nav = page.locator(".topbar nav")
            if nav.is_visible():
                too_wide.append("the navigation is not folded behind Menu at 390 px")
            else:
                page.get_by_role("button", name="Menu").click()
                assert nav.get_by_role("link", name="Collections").is_visible()
                visit("menu-open")
        context.close()
    assert not too_wide, "pages that don't fit the window:\n" + "\n".join(too_wide)


def badge(session: Browser) -> tuple[str, str]:
    """The heading's badge: (its words, its colour class)."""
    element = session.page.locator("h1 .badge")
    return element.inner_text(), element.get_attribute("class").replace("badge", "").strip()


def test_a_member_edits_pauses_resyncs_and_deletes_a_collection_on_a_phone(world, chromium, live_server, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)  # no worker here
    session = signed_in(chromium, live_server.url, 390)
    page = session.page
    session.goto("/collections/commons/orders/")
    assert badge(session) == ("live", "ok")

    session.follow(page.get_by_role("link", name="Edit"))
    page.get_by_label("Description").fill("Orders of the EU shop")
    page.get_by_label("Stream poll frequency (seconds)").fill("2")
    session.follow(page.get_by_role("button", name="Save changes"))
    assert page.get_by_text("Saved the changes to commons.orders.").is_visible()
    assert page.get_by_text("Orders of the EU shop").is_visible() and page.get_by_text("every 2 s").is_visible()
    session.shot("390-manage-edited")

    session.follow(page.get_by_role("link", name="Pause"))
    assert page.get_by_role("heading", name="Pause commons.orders?").is_visible()  # nothing paused yet
    assert Source.objects.get(pk=world.source.pk).suspended_at is None
    session.follow(page.get_by_role("button", name="Pause"))
    assert badge(session) == ("paused", "idle")
    session.follow(page.get_by_role("button", name="Resume"))

    Source.objects.get(pk=world.source.pk).fail("AccessDeniedException: allow dynamodb:GetRecords on the stream")
    session.goto("/collections/commons/orders/")
    assert badge(session) == ("error", "bad")
    session.shot("390-manage-error")
    session.follow(page.get_by_role("button", name="Retry"))

    session.follow(page.get_by_role("link", name="Re-sync"))
    assert page.get_by_role("heading", name="Re-sync commons.orders?").is_visible()
    assert page.get_by_text("removes the collection's 3 documents").is_visible()
    session.shot("390-manage-resync")
    session.follow(page.get_by_role("button", name="Re-sync orders"))
    assert badge(session) == ("starting", "warn") and Document.objects.filter(collection__name="orders").count() == 0

    session.follow(page.get_by_role("link", name="Delete"))
    page.get_by_label("Type the collection's name to confirm").fill("order")
    session.follow(page.get_by_role("button", name="Delete orders"))
    assert page.get_by_text("Type “orders” exactly to delete this collection.").is_visible()
    page.get_by_label("Type the collection's name to confirm").fill("orders")
    session.shot("390-manage-delete")
    session.follow(page.get_by_role("button", name="Delete orders"))
    assert page.get_by_text("Deleted commons.orders.").is_visible()
    assert not page.get_by_role("link", name="commons.orders").count()
    assert not overflow(session)
    session.shot("390-manage-deleted")
    page.context.close()


# The admin's own pages beyond its index: each model's list (with a row), a row's page, its history, and the
# confirmation of a collection's delete. Found from the index's links, so a model registered later is walked too.
ROW_LINK = "#result_list tbody tr:first-child th a, #result_list tbody tr:first-child td a"


def admin_rows(w: SimpleNamespace) -> None:
    """A row for every engine model the admin lists, with the long values an operator really sees."""
    now = timezone.now()
    Shard.objects.create(
        source=w.source, stream_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/orders-production-eu/stream/"
        "2026-12-07T13:00:00.000", shard_id="shardId-00000001733576400000-0a1b2c3d", checkpoint="4" * 21,
        parent_shard_id="shardId-00000001733490000000-9f8e7d6c", last_read_at=now, problem="GetRecords: "
        "ProvisionedThroughputExceededException: the stream's read rate was exceeded; backing off for 2 s",
    )  # fmt: skip
    ScanSegment.objects.create(source=w.source, segment=0, total_segments=4, items_loaded=1234, pages=3,
                               last_evaluated_key={"order_id": {"S": "ord-" + "9" * 60}})  # fmt: skip
    LagAlert.objects.create(
        source=w.source, raised_at=now, reason="25 min behind its table; the alert is set at 5 min."
    )
    Heartbeat.objects.create(name="worker", seen_at=now)


def test_the_admin_fits_a_phone_and_a_desktop(world, chromium, live_server):
    admin_rows(world)
    too_wide: list[str] = []
    for width in WIDTHS:
        session = signed_in(chromium, live_server.url, width)
        page = session.page

        visit = visitor(session, f"{width}-admin-", too_wide)

        session.goto("/")
        admin = page.locator(".topbar nav").get_by_role("link", name="Admin")
        if not admin.is_visible():  # folded behind Menu on a phone
            page.get_by_role("button", name="Menu").click()
        session.follow(admin)  # the console's one link into the admin
        visit("index")
        lists = page.eval_on_selector_all("#content-main th[scope=row] a", "links => links.map(a => a.pathname)")
        assert "/admin/collections_app/collection/" in lists and "/admin/ingest/shard/" in lists, lists
        for path in lists:
            name = path.strip("/").removeprefix("admin/").replace("/", "-")
            session.goto(path)
            visit(name)
            row = page.locator(ROW_LINK).first
            if row.count():
                session.follow(row)
                visit(f"{name}-row")
        collection = Collection.objects.get(name="orders")
        for path in (f"/admin/collections_app/collection/{collection.pk}/history/",
                     f"/admin/collections_app/collection/{collection.pk}/delete/"):  # fmt: skip
            session.goto(path)
            visit(path.strip("/").removeprefix("admin/").replace("/", "-"))
        page.context.close()
    assert not too_wide, "admin pages that don't fit the window:\n" + "\n".join(too_wide)


# How many lines a piece of text takes on the page: one rectangle per line box it is laid out in.
LINES = """(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""
# The words of an element's text that are laid out on more than one line (broken inside the word).
BROKEN_WORDS = """(element) => {
  const text = element.firstChild, broken = [];
  for (const match of text.data.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(text, match.index);
    range.setEnd(text, match.index + match[0].length);
    if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) broken.push(match[0]);
  }
  return broken;
}"""
# Where the footer's text starts against the page's content, and the gap above it.
FOOTER = """() => {
  const footer = document.querySelector("footer.footer"), main = document.querySelector("main.page");
  const inset = (e) => e.getBoundingClientRect().left + parseFloat(getComputedStyle(e).paddingLeft);
  return {left: Math.round(inset(footer) - inset(main)),
          gap: Math.round(footer.getBoundingClientRect().top - main.getBoundingClientRect().bottom)};
}"""
LONG_ID = "ord-2026-12-07-0a1b2c3d4e5f60718293"


def test_the_trials_small_things_at_both_widths(world, chromium, live_server):
    """A notice's date on one line; the editor's result with ids unbroken and sentences broken between words
    only (the table scrolls in its box); the editor page's footer placed as on every other page."""
    Source.objects.filter(pk=world.source.pk).update(
        notice_at=timezone.now(), notice="The stream was re-created in AWS: Millrace re-synced the collection "
        "from a new load, as nothing can be read from a stream that is gone.",
    )  # fmt: skip
    body = {"order_id": LONG_ID, "note": "a long note " * 12}
    Document.objects.create(collection=world.source.collection, doc_id=LONG_ID, size_bytes=100, body=body,
                            event_time=timezone.now())  # fmt: skip
    for width in WIDTHS:
        session = signed_in(chromium, live_server.url, width)
        page = session.page

        session.goto("/collections/commons/orders/")
        date = page.locator("#status .message.warning strong").element_handle()
        assert page.evaluate(LINES, date) == 1, f"the notice's date is squeezed at {width} px"
        session.shot(f"{width}-notice")

        session.goto("/collections/")
        expected = page.evaluate(FOOTER)
        assert expected["left"] == 0, f"the footer's text doesn't line up with the page's at {width} px"
        session.goto("/queries/")
        page.locator(".CodeMirror").click()
        page.keyboard.press("Control+A")
        page.keyboard.type("SELECT order_id, note\nFROM commons.orders\nORDER BY order_id DESC")
        page.get_by_role("button", name="Run").click()
        cell = page.locator(".result-table tbody td", has_text=LONG_ID)
        cell.wait_for()
        assert page.evaluate(LINES, cell.element_handle()) == 1, f"{LONG_ID} is broken across lines at {width} px"
        note = page.locator(".result-table tbody td", has_text="a long note").first.element_handle()
        assert page.evaluate(BROKEN_WORDS, note) == [], f"words broken inside at {width} px"
        assert page.evaluate(LINES, note) < 12, f"a sentence squeezed to a word a line at {width} px"
        assert not overflow(session), overflow(session)
        assert page.evaluate(FOOTER) == expected, f"the editor's footer sits elsewhere than other pages' at {width} px"
        session.shot(f"{width}-editor")
        page.context.close()
