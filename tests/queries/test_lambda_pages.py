"""The console's Query Lambda, View and Alias pages, as a member, a read-only member and another
organisation's user see them."""

from __future__ import annotations

import html
import re

import pytest

from console.models import Membership
from queries.models import Alias, QueryLambda
from tests.conftest import client_for

STATUS_SQL = "SELECT status, COUNT(*) AS n FROM commons.orders WHERE amount > :min GROUP BY status ORDER BY status"
PAGE = "/queries/lambdas/commons/counts/"


def save(client, sql: str = STATUS_SQL, value: str = "6", **headers):
    form = {"sql": sql, "type:min": "int", "value:min": value, "workspace": "commons", "lambda_name": "counts"}
    return client.post("/queries/lambdas/save/", form, **headers)


def text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


@pytest.fixture
def alice(orders):
    return client_for(orders.alice)


def test_save_as_lambda_from_the_editor_then_tag_run_and_roll_back(alice, orders):
    editor = text(alice.get("/queries/"))
    assert "Save as lambda" in editor and 'formaction="/queries/lambdas/save/"' in editor
    assert save(alice)["Location"] == PAGE
    first = QueryLambda.objects.get(name="counts").versions.get()
    assert first.default_parameters == [{"name": "min", "type": "int", "value": "6"}]
    page = text(alice.get(PAGE))
    assert "Version 1" in page and 'value="6"' in page and "execute_query_lambda_by_tag" in page
    assert alice.post(f"{PAGE}tags/", {"tag_name": "prod", "version": first.version}).status_code == 302
    ran = text(alice.post(PAGE, {"version": first.version, "type:min": "int", "value:min": "20"}))
    assert "<td>shipped</td><td>1</td>" in ran and "<td>pending</td><td>1</td>" in ran
    assert 'tag="prod"' in ran  # the snippets call it by the user's tag
    # a second save is version 2, shown beside version 1 with the change
    save(alice, STATUS_SQL.replace("COUNT(*)", "COUNT(*) * 10"))
    second = QueryLambda.objects.get(name="counts").versions.get(number=2)
    page = text(alice.get(PAGE))
    assert "Changes from version 1 to 2" in page and 'class="diff-add"' in page and "COUNT(*) * 10" in page
    alice.post(f"{PAGE}tags/", {"tag_name": "prod", "version": second.version})
    alice.post(f"{PAGE}tags/", {"tag_name": "prod", "version": first.version})
    assert QueryLambda.objects.get(name="counts").tags.get(name="prod").version == first
    usage = QueryLambda.objects.get(name="counts")
    assert usage.executions == 1 and usage.last_executed_by == "alice@acme.test"


def test_a_bad_save_says_why_and_keeps_the_sql(alice):
    response = save(alice, "SELECT * FROM commons.nowhere WHERE amount > :min")
    assert response["Location"].startswith("/queries/?sql=SELECT")
    assert "nowhere" in text(alice.get(response["Location"]))
    assert not QueryLambda.objects.exists()


def test_htmx_save_is_told_to_load_the_lambdas_page(alice):
    response = save(alice, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == PAGE


def test_deleting_a_tag_asks_first(alice):
    save(alice)
    version = QueryLambda.objects.get().versions.get().version
    alice.post(f"{PAGE}tags/", {"tag_name": "prod", "version": version})
    question = text(alice.get(f"{PAGE}tags/prod/delete/"))
    assert "Delete tag prod of commons.counts?" in question and "NOTFOUND" in question
    alice.post(f"{PAGE}tags/prod/delete/")
    assert list(QueryLambda.objects.get().tags.values_list("name", flat=True)) == ["latest"]
    assert alice.get(f"{PAGE}tags/latest/delete/").status_code == 200  # asks, then refuses with a reason
    alice.post(f"{PAGE}tags/latest/delete/")
    assert "kept by Millrace" in text(alice.get(PAGE))


def test_a_run_without_a_needed_parameter_says_which(alice):
    alice.post("/queries/lambdas/save/", {"sql": "SELECT :x AS x", "workspace": "commons", "lambda_name": "echo"})
    page = text(alice.post("/queries/lambdas/commons/echo/", {"value:x": "hello", "type:x": "string"}))
    assert "<td>hello</td>" in page


def test_another_organisation_gets_404_and_read_only_cannot_save(orders, alice):
    save(alice)
    assert client_for(orders.carol).get(PAGE).status_code == 404
    assert client_for(orders.carol).get("/queries/lambdas/").content.count(b"counts") == 0
    Membership.objects.filter(user=orders.bob).update(role=Membership.Role.READ_ONLY)
    bob = client_for(orders.bob)
    assert bob.get(PAGE).status_code == 200
    assert save(bob).status_code == 403
    assert "Save as lambda" not in text(bob.get("/queries/"))


def test_views_and_aliases_pages_create_and_switch(alice, orders):
    created = alice.post("/queries/views/", {"workspace": "commons", "name": "gold", "query":
                                             "SELECT _id FROM orders WHERE customer.tier = 'gold'"})  # fmt: skip
    assert created.status_code == 302
    views = text(alice.get("/queries/views/"))
    assert "commons.gold" in views and "<code>commons.orders</code>" in views
    refused = text(
        alice.post("/queries/views/", {"workspace": "commons", "name": "loop", "query": "SELECT * FROM loop"})
    )
    assert "Not saved" in refused and "SELECT * FROM loop" in refused  # the form keeps what was typed
    alice.post("/queries/aliases/", {"workspace": "commons", "name": "live", "collection": "commons.orders"})
    alice.post("/queries/aliases/", {"switch": "commons.live", "collection": "commons.customers"})
    assert Alias.objects.get().collection.name == "customers"
    assert "Reads <code>commons.customers</code>" in text(alice.get("/queries/aliases/"))
