"""Every page on a phone (390 px) and a desktop (1366 px), in headless Chromium: none scrolls sideways, none
logs an error or loads something that fails. One browser and one live server for both widths, a world
written straight into the database (no worker, no AWS calls), screenshots under test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from collections_app.models import Collection, Document, Source, Workspace
from console import help
from console.models import Invitation, Organisation, hash_api_key
from console.services import api_key_create, first_admin_create
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

        def visit(name: str, width: int = width, session: Browser = session) -> None:
            session.check()
            if problem := overflow(session):
                too_wide.append(problem)
            session.shot(f"{width}-{name}")

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
