"""Query Lambdas, Views and Aliases through Rockset's official client (2.1.2), against a live server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from rockset.exceptions import BadRequestException, ForbiddenException, NotFoundException
from rockset.models import QueryLambdaSql, QueryParameter

from console.models import Membership
from console.services import api_key_create
from queries import saved
from tests.api.conftest import rockset_client
from tests.conftest import client_for
from tests.queries.sample import add_collection

pytestmark = pytest.mark.django_db(transaction=True)

STATUS_SINCE = (
    "SELECT status, COUNT(*) AS n FROM commons.orders WHERE placed_at > :since GROUP BY status ORDER BY status"
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def placed(days: int) -> str:
    return (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def shop(people):
    """Acme's `commons.orders`: six orders placed a day apart, and a `commons.orders_v2` copy with one more."""
    statuses = ["shipped", "shipped", "pending", "cancelled", "pending", "shipped"]
    docs = [{"id": str(i), "status": s, "placed_at": placed(i)} for i, s in enumerate(statuses)]
    add_collection(people.acme, "commons", "orders", docs)
    add_collection(
        people.acme, "commons", "orders_v2", [*docs, {"id": "9", "status": "returned", "placed_at": placed(9)}]
    )
    add_collection(people.globex, "commons", "orders", docs[:1])
    return people


def since(value: str) -> list[QueryParameter]:
    return [QueryParameter(name="since", type="timestamp", value=value)]


def body_of(error: pytest.ExceptionInfo) -> dict:
    return json.loads(error.value.body)


def test_done_when_prod_tag_follows_moves(rs, shop):
    """The issue's check: save, tag `prod`, run by tag with a new `since`; change it, move `prod`, move it back."""
    first = rs.QueryLambdas.create_query_lambda(
        name="status_counts", workspace="commons",
        sql=QueryLambdaSql(query=STATUS_SINCE, default_parameters=since(placed(-1))),
    ).data  # fmt: skip
    rs.QueryLambdas.create_query_lambda_tag(query_lambda="status_counts", tag_name="prod", version=first.version)

    def run_prod() -> list[dict]:
        response = rs.QueryLambdas.execute_query_lambda_by_tag(
            workspace="commons", query_lambda="status_counts", tag="prod", parameters=since(placed(2))
        )
        assert response.query_lambda_path == "commons.status_counts"
        return response.results

    v1_answer = [{"status": "cancelled", "n": 1}, {"status": "pending", "n": 1}, {"status": "shipped", "n": 1}]
    assert run_prod() == v1_answer
    second = rs.QueryLambdas.update_query_lambda(
        query_lambda="status_counts",
        sql=QueryLambdaSql(query=STATUS_SINCE.replace("COUNT(*) AS n", "COUNT(*) * 10 AS n"),
                           default_parameters=since(placed(-1))),
    ).data  # fmt: skip
    assert second.version != first.version
    assert run_prod() == v1_answer  # `prod` stays where it was put; only `latest` moved
    rs.QueryLambdas.create_query_lambda_tag(query_lambda="status_counts", tag_name="prod", version=second.version)
    assert run_prod() == [{**row, "n": row["n"] * 10} for row in v1_answer]
    rs.QueryLambdas.create_query_lambda_tag(query_lambda="status_counts", tag_name="prod", version=first.version)
    assert run_prod() == v1_answer


def test_versions_tags_latest_and_execution_by_version(rs, shop):
    v1 = rs.QueryLambdas.create_query_lambda(
        name="recent", description="orders after a day",
        sql=QueryLambdaSql(query="SELECT _id FROM orders WHERE placed_at > :since ORDER BY _id",
                           default_parameters=since(placed(3))),
    ).data  # fmt: skip
    assert v1.sql.default_parameters[0].value == placed(3) and v1.collections == ["commons.orders"]
    assert len(v1.version) == 16 and v1.state == "ACTIVE" and v1.created_by == "alice@acme.test"
    v2 = rs.QueryLambdas.update_query_lambda(
        query_lambda="recent", sql=QueryLambdaSql(query="SELECT _id FROM orders ORDER BY _id DESC LIMIT 2")
    ).data
    assert v2.description == "orders after a day"  # kept from the version before
    versions = rs.QueryLambdas.list_query_lambda_versions(query_lambda="recent").data
    assert [v.version for v in versions] == [v2.version, v1.version]
    assert rs.QueryLambdas.get_query_lambda_tag_version(query_lambda="recent", tag="latest").data.version.version == (
        v2.version
    )
    assert rs.QueryLambdas.get_query_lambda_version(
        query_lambda="recent", version=v1.version
    ).data.sql.query.startswith("SELECT _id FROM orders WHERE")
    # by version, with the default and with a parameter of its own
    by_default = rs.QueryLambdas.execute_query_lambda(query_lambda="recent", version=v1.version)
    assert [r["_id"] for r in by_default.results] == ["4", "5"]
    given = rs.QueryLambdas.execute_query_lambda(query_lambda="recent", version=v1.version, parameters=since(placed(0)))
    assert [r["_id"] for r in given.results] == ["1", "2", "3", "4", "5"]
    newest = rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="recent", tag="latest")
    assert [r["_id"] for r in newest.results] == ["5", "4"]
    listed = rs.QueryLambdas.list_query_lambdas_in_workspace(workspace="commons").data
    assert [(q.name, q.version_count, q.latest_version.version) for q in listed] == [("recent", 2, v2.version)]
    assert [q.name for q in rs.QueryLambdas.list_all_query_lambdas().data] == ["recent"]
    tags = rs.QueryLambdas.list_query_lambda_tags(query_lambda="recent").data
    assert [(t.tag_name, t.version.version) for t in tags] == [("latest", v2.version)]
    stats = rs.QueryLambdas.get_query_lambda_version(query_lambda="recent", version=v1.version).data.stats
    assert stats.last_executed and stats.last_executed_by == "alice@acme.test" and stats.last_execution_error is None
    assert stats.executions == 3  # Millrace's count beside Rockset's fields
    # deleting the newest version moves `latest` back
    rs.QueryLambdas.delete_query_lambda_version(query_lambda="recent", version=v2.version)
    latest = rs.QueryLambdas.get_query_lambda_tag_version(query_lambda="recent", tag="latest").data
    assert latest.version.version == v1.version
    rs.QueryLambdas.delete_query_lambda(query_lambda="recent")
    assert rs.QueryLambdas.list_all_query_lambdas().data == []
    with pytest.raises(NotFoundException):
        rs.QueryLambdas.execute_query_lambda(query_lambda="recent", version=v1.version)


def test_paginated_and_async_execution(rs, shop, monkeypatch):
    from queries import tasks

    rs.QueryLambdas.create_query_lambda(name="ids", sql=QueryLambdaSql(query="SELECT _id FROM orders ORDER BY _id"))
    first = rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest", max_initial_results=4)
    assert [r["_id"] for r in first.results] == ["0", "1", "2", "3"] and first.results_total_doc_count == 6
    rest = rs.Queries.get_query_results(query_id=first.query_id, cursor=first.pagination.next_cursor)
    assert [r["_id"] for r in rest.results] == ["4", "5"]
    old_style = rs.QueryLambdas.execute_query_lambda_by_tag(
        query_lambda="ids", tag="latest", paginate=True, initial_paginate_response_doc_count=5
    )
    assert len(old_style.results) == 5 and old_style.pagination.next_cursor
    handed: list[int] = []
    monkeypatch.setattr(tasks.run_query, "delay", handed.append)
    queued = rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest", _async=True)
    assert queued.query_id and not queued.results and queued.query_lambda_path == "commons.ids"
    tasks.run_query(handed.pop())
    done = rs.Queries.get_query_results(query_id=queued.query_id)
    assert [r["_id"] for r in done.results] == ["0", "1", "2", "3", "4", "5"]
    # an async execution that fails on the worker is the lambda's last error, as a synchronous one is
    rs.QueryLambdas.update_query_lambda(query_lambda="ids", sql=QueryLambdaSql(query="SELECT :n AS n"))
    bad = [QueryParameter(name="n", type="int", value="many")]
    failing = rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest", _async=True, parameters=bad)
    tasks.run_query(handed.pop())
    assert rs.Queries.get_query(query_id=failing.query_id).data.status == "ERROR"
    stats = rs.QueryLambdas.get_query_lambda_tag_version(query_lambda="ids", tag="latest").data.version.stats
    assert "not a valid int" in stats.last_execution_error_message


def test_lambda_errors_in_rocksets_body(rs, shop):
    v1 = rs.QueryLambdas.create_query_lambda(
        name="since", sql=QueryLambdaSql(query="SELECT COUNT(*) AS n FROM orders WHERE placed_at > :since")
    ).data
    with pytest.raises(NotFoundException) as unknown_tag:
        rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="since", tag="prod")
    assert body_of(unknown_tag)["type"] == "NOTFOUND" and "no tag `prod`" in body_of(unknown_tag)["message"]
    with pytest.raises(BadRequestException) as missing:
        rs.QueryLambdas.execute_query_lambda(query_lambda="since", version=v1.version)
    assert body_of(missing)["type"] == "INVALIDINPUT" and "needs parameter `since`" in body_of(missing)["message"]
    with pytest.raises(BadRequestException) as wrong_type:
        rs.QueryLambdas.execute_query_lambda(
            query_lambda="since",
            version=v1.version,
            parameters=[QueryParameter(name="since", type="int", value="soon")],
        )
    assert "not a valid int" in body_of(wrong_type)["message"]
    stats = rs.QueryLambdas.get_query_lambda_version(query_lambda="since", version=v1.version).data.stats
    assert "not a valid int" in stats.last_execution_error_message and stats.last_execution_error
    with pytest.raises(BadRequestException) as bad_sql:
        rs.QueryLambdas.update_query_lambda(query_lambda="since", sql=QueryLambdaSql(query="SELECT * FROM nowhere"))
    assert "nowhere" in body_of(bad_sql)["message"]
    assert len(rs.QueryLambdas.list_query_lambda_versions(query_lambda="since").data) == 1  # nothing saved
    with pytest.raises(BadRequestException) as bad_default:
        rs.QueryLambdas.create_query_lambda(
            name="typed", sql=QueryLambdaSql(query="SELECT :x AS x", default_parameters=[
                QueryParameter(name="x", type="int", value="ten")])
        )  # fmt: skip
    assert "not a valid int" in body_of(bad_default)["message"]
    with pytest.raises(BadRequestException) as again:
        rs.QueryLambdas.create_query_lambda(name="since", sql=QueryLambdaSql(query="SELECT 1 AS one"))
    assert body_of(again)["type"] == "ALREADYEXISTS"
    with pytest.raises(BadRequestException) as latest:
        rs.QueryLambdas.delete_query_lambda_tag(query_lambda="since", tag="latest")
    assert "kept by Millrace" in body_of(latest)["message"]


def test_views_in_queries_and_lambdas(rs, shop):
    view = rs.Views.create(
        name="shipped", query="SELECT _id, placed_at FROM commons.orders WHERE status = 'shipped'"
    ).data
    assert view.entities == ["commons.orders"] and view.path == "commons.shipped" and view.state == "CREATED"
    assert rs.sql("SELECT COUNT(*) AS n FROM commons.shipped").results == [{"n": 3}]
    joined = rs.sql("SELECT o.status FROM orders o JOIN shipped s ON o._id = s._id WHERE s._id = '5'")
    assert joined.results == [{"status": "shipped"}]
    rs.Views.create(name="late_shipped", query="SELECT _id FROM shipped WHERE placed_at > '2026-01-03'")
    rs.QueryLambdas.create_query_lambda(
        name="late", sql=QueryLambdaSql(query="SELECT _id FROM late_shipped ORDER BY _id")
    )
    assert rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="late", tag="latest").results == [{"_id": "5"}]
    got = rs.Views.get(view="late_shipped").data
    assert got.entities == ["commons.shipped"] and got.query_sql.startswith("SELECT _id FROM shipped")
    assert [v.name for v in rs.Views.list().data] == ["late_shipped", "shipped"]
    # an update is checked as a create is, and takes effect in every query at once
    with pytest.raises(BadRequestException) as bad:
        rs.Views.update(view="shipped", query="SELECT FROM WHERE")
    assert body_of(bad)["type"] == "INVALIDINPUT"
    rs.Views.update(view="shipped", query="SELECT _id, placed_at FROM commons.orders WHERE status = 'pending'")
    assert rs.sql("SELECT COUNT(*) AS n FROM shipped").results == [{"n": 2}]
    # a cycle is refused, naming it
    with pytest.raises(BadRequestException) as cycle:
        rs.Views.update(view="shipped", query="SELECT _id, placed_at FROM late_shipped")
    assert "commons.shipped" in body_of(cycle)["message"] and "itself" in body_of(cycle)["message"]
    with pytest.raises(BadRequestException) as self_cycle:
        rs.Views.create(name="loop", query="SELECT * FROM loop")
    assert (
        body_of(self_cycle)["type"] == "INVALIDINPUT"
        and "`commons.loop` refers to itself" in body_of(self_cycle)["message"]
    )
    # deleting what others read is refused, naming them
    with pytest.raises(BadRequestException) as dependent:
        rs.Views.delete(view="shipped")
    body = body_of(dependent)
    assert body["type"] == "DEPENDENTRESOURCES" and "view `commons.late_shipped`" in body["message"]
    with pytest.raises(BadRequestException) as lambda_dependent:
        rs.Views.delete(view="late_shipped")
    assert "Query Lambda `commons.late`" in body_of(lambda_dependent)["message"]
    rs.QueryLambdas.delete_query_lambda(query_lambda="late")
    rs.Views.delete(view="late_shipped")
    assert rs.Views.delete(view="shipped").data.state == "DELETED"
    with pytest.raises(BadRequestException):
        rs.sql("SELECT * FROM shipped")


def test_aliases_in_queries_and_lambdas_switch(rs, shop):
    alias = rs.Aliases.create(name="live_orders", collections=["commons.orders"]).data
    assert alias.collections == ["commons.orders"] and alias.state == "CREATED"
    rs.QueryLambdas.create_query_lambda(name="count", sql=QueryLambdaSql(query="SELECT COUNT(*) AS n FROM live_orders"))
    assert rs.sql("SELECT COUNT(*) AS n FROM commons.live_orders").results == [{"n": 6}]
    switched = rs.Aliases.update(alias="live_orders", collections=["commons.orders_v2"]).data
    assert switched.collections == ["commons.orders_v2"]
    assert rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="count", tag="latest").results == [{"n": 7}]
    assert [a.name for a in rs.Aliases.workspace_aliases(workspace="commons").data] == ["live_orders"]
    with pytest.raises(NotFoundException):
        rs.Aliases.update(alias="live_orders", collections=["commons.nothing"])
    with pytest.raises(BadRequestException) as taken:
        rs.Aliases.create(name="orders", collections=["commons.orders_v2"])
    assert body_of(taken)["type"] == "ALREADYEXISTS"
    with pytest.raises(BadRequestException) as dependent:
        rs.Aliases.delete(alias="live_orders")
    assert "Query Lambda `commons.count`" in body_of(dependent)["message"]
    rs.QueryLambdas.delete_query_lambda(query_lambda="count")
    rs.Aliases.delete(alias="live_orders")
    assert rs.Aliases.list().data == []


def test_an_alias_switched_to_a_collection_still_loading_waits_until_it_is_ready(rs, shop):
    from collections_app.models import Collection
    from console.tasks import supervisor_tick

    rs.Aliases.create(name="live_orders", collections=["commons.orders"])
    loading = Collection.objects.filter(workspace__organisation=shop.acme, name="orders_v2")
    loading.update(status=Collection.Status.CREATED)  # a new collection, its initial load under way
    answer = rs.Aliases.update(alias="live_orders", collections=["commons.orders_v2"]).data
    assert answer.collections == ["commons.orders"]  # queries keep reading the whole one meanwhile
    assert rs.sql("SELECT COUNT(*) AS n FROM commons.live_orders").results == [{"n": 6}]
    page = client_for(shop.alice).get(reverse("saved_aliases")).content.decode()
    assert "Switches to <code>commons.orders_v2</code> once it is ready (it is still loading)" in page
    supervisor_tick()
    assert rs.sql("SELECT COUNT(*) AS n FROM commons.live_orders").results == [{"n": 6}]
    loading.update(status=Collection.Status.READY)
    supervisor_tick()  # beat's tick switches it
    assert rs.Aliases.get(alias="live_orders").data.collections == ["commons.orders_v2"]
    assert rs.sql("SELECT COUNT(*) AS n FROM commons.live_orders").results == [{"n": 7}]
    assert "Switches to" not in client_for(shop.alice).get(reverse("saved_aliases")).content.decode()


def test_another_organisation_cannot_see_or_run_them(rs, carol_rs, shop):
    v1 = rs.QueryLambdas.create_query_lambda(name="ids", sql=QueryLambdaSql(query="SELECT _id FROM orders")).data
    rs.Views.create(name="shipped", query="SELECT _id FROM orders WHERE status = 'shipped'")
    rs.Aliases.create(name="live", collections=["commons.orders"])
    assert carol_rs.QueryLambdas.list_all_query_lambdas().data == []
    assert carol_rs.Views.list().data == [] and carol_rs.Aliases.list().data == []
    for call in (
        lambda: carol_rs.QueryLambdas.execute_query_lambda(query_lambda="ids", version=v1.version),
        lambda: carol_rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest"),
        lambda: carol_rs.QueryLambdas.delete_query_lambda(query_lambda="ids"),
        lambda: carol_rs.Views.get(view="shipped"),
        lambda: carol_rs.Aliases.delete(alias="live"),
    ):
        with pytest.raises(NotFoundException):
            call()
    with pytest.raises(BadRequestException):  # Globex has an `orders` of its own, but no `shipped` view
        carol_rs.sql("SELECT * FROM shipped")
    assert len(rs.QueryLambdas.execute_query_lambda(query_lambda="ids", version=v1.version).results) == 6


def test_a_read_only_key_runs_lambdas_but_cannot_change_them(live_server, rs, shop):
    rs.QueryLambdas.create_query_lambda(name="ids", sql=QueryLambdaSql(query="SELECT _id FROM orders"))
    rs.QueryLambdas.create_query_lambda_tag(
        query_lambda="ids", tag_name="prod",
        version=rs.QueryLambdas.list_query_lambda_versions(query_lambda="ids").data[0].version,
    )  # fmt: skip
    Membership.objects.filter(user=shop.bob).update(role=Membership.Role.READ_ONLY)
    bob = rockset_client(live_server.url, api_key_create(user=shop.bob, organisation=shop.acme, name="bob")[1])
    assert len(bob.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="prod").results) == 6
    for call in (
        lambda: bob.QueryLambdas.delete_query_lambda_tag(query_lambda="ids", tag="prod"),
        lambda: bob.QueryLambdas.update_query_lambda(query_lambda="ids", sql=QueryLambdaSql(query="SELECT 1 AS x")),
        lambda: bob.Views.create(name="v", query="SELECT _id FROM orders"),
        lambda: bob.Aliases.create(name="a", collections=["commons.orders"]),
    ):
        with pytest.raises(ForbiddenException):
            call()
    assert rs.QueryLambdas.get_query_lambda_tag_version(query_lambda="ids", tag="prod").data.tag_name == "prod"


def test_an_alias_switched_while_a_lambda_runs_in_a_loop_gives_only_whole_answers(rs, shop):
    """One thread switches the alias back and forth while the client runs a lambda over it: every answer is
    all of one collection or all of the other (PostgreSQL: SQLite has one writer and the server a lock)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    rs.Aliases.create(name="live", collections=["commons.orders"])
    rs.QueryLambdas.create_query_lambda(name="ids", sql=QueryLambdaSql(query="SELECT _id FROM live ORDER BY _id"))
    old, new = [str(i) for i in range(6)], [*(str(i) for i in range(6)), "9"]
    alias = saved.alias_get(organisation=shop.acme, workspace="commons", name="live")
    done, switches = threading.Event(), []

    def switch() -> None:
        try:
            targets = ["commons.orders_v2", "commons.orders"]
            while not done.is_set() and len(switches) < 1000:
                saved.alias_switch(organisation=shop.acme, alias=alias, collections=[targets[len(switches) % 2]])
                switches.append(1)
        finally:
            connection.close()

    switcher = threading.Thread(target=switch)
    switcher.start()
    try:
        answers = [
            [r["_id"] for r in rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest").results]
            for _ in range(40)
        ]
    finally:
        done.set()
        switcher.join()
    assert switches and all(answer in (old, new) for answer in answers)
    final = rs.QueryLambdas.execute_query_lambda_by_tag(query_lambda="ids", tag="latest").results
    expected = new if rs.Aliases.get(alias="live").data.collections == ["commons.orders_v2"] else old
    assert [r["_id"] for r in final] == expected
