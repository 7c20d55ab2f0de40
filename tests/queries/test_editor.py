"""The console's query editor, as a member uses it: with a plain form and with htmx."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from queries.models import Query
from queries.services import query_submit
from tests.conftest import client_for
from tests.queries.sample import BIG

EDITOR = "/queries/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(orders) -> Client:
    return client_for(orders.alice)


def run(client: Client, sql: str, **headers: str):
    return client.post(EDITOR, {"sql": sql}, **headers)


def test_the_editor_is_in_the_nav_with_its_editor_component_and_the_collections(alice):
    page = alice.get("/").content.decode()
    assert 'href="/queries/"' in page
    editor = alice.get(EDITOR).content.decode()
    assert "vendor/codemirror-5.65.20/codemirror.js" in editor and "js/query-editor.js" in editor
    assert "commons.orders" in editor and "commons.customers" in editor and "secrets" not in editor


def test_a_plain_form_post_runs_the_query_and_shows_the_table_count_and_time(alice):
    response = run(alice, "SELECT status, COUNT(*) AS n FROM commons.orders GROUP BY status ORDER BY status")
    assert response.status_code == 302 and "?query=" in response["Location"]
    page = alice.get(response["Location"]).content.decode()
    assert "<strong>3 rows</strong> in" in page and " ms" in page
    assert '<th scope="col">status</th><th scope="col">n</th>' in page
    assert "<td>cancelled</td><td>1</td>" in page and "<td>shipped</td><td>2</td>" in page
    assert "GROUP BY status" in page  # the SQL is back in the editor


def test_htmx_gets_the_result_and_the_history_in_one_fragment(alice):
    response = run(alice, "SELECT _id FROM orders WHERE _id = '1'", **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert "<strong>1 row</strong>" in fragment and "<td>1</td>" in fragment
    assert 'id="query-history" hx-swap-oob="true"' in fragment and "WHERE _id = &#x27;1&#x27;" in fragment
    assert response["HX-Push-Url"] == f"/queries/?query={Query.objects.get().query_id}"


def test_the_json_view_keeps_every_digit(alice):
    page = alice.get(run(alice, "SELECT big FROM orders WHERE _id = '4'")["Location"]).content.decode()
    assert f"<pre>[\n{{&quot;big&quot;:{BIG}}}\n]</pre>" in page
    assert f"<td>{BIG}</td>" in page


def test_an_error_points_at_its_line_and_column(alice):
    page = alice.get(run(alice, "SELECT *\nFROM commons.secrets")["Location"]).content.decode()
    assert "Line 2, column 6:" in page and "Collection &#x27;commons.secrets&#x27; not found." in page
    assert 'data-error-line="2" data-error-column="6"' in page
    assert "FROM commons.secrets\n     ^</pre>" in page


def test_history_is_the_users_own_and_reopening_someone_elses_query_is_a_404(orders, alice):
    run(alice, "SELECT 'alice' AS who FROM orders LIMIT 1")
    bob = client_for(orders.bob)
    run(bob, "SELECT 'bob' AS who FROM orders LIMIT 1")
    query_submit(organisation=orders.acme, user=orders.alice, via="api", sql="SELECT 'script' AS who FROM orders")
    page = alice.get(EDITOR).content.decode()
    assert "alice" in page and "&#x27;bob&#x27;" not in page
    assert "&#x27;script&#x27;" not in page  # the history is what was run here; scripts have the API
    bobs = Query.objects.get(user=orders.bob)
    assert alice.get(EDITOR, {"query": str(bobs.query_id)}).status_code == 404
    assert client_for(orders.carol).get(EDITOR, {"query": str(bobs.query_id)}).status_code == 404
    assert alice.get(f"/queries/{bobs.query_id}/download.csv").status_code == 404


def test_the_result_downloads_as_csv_and_json_lines(alice):
    location = run(alice, "SELECT _id, amount, customer FROM orders WHERE _id IN ('1', '2') ORDER BY _id")["Location"]
    query_id = location.split("=")[1]
    csv = alice.get(f"/queries/{query_id}/download.csv")
    assert csv["Content-Type"].startswith("text/csv") and "attachment" in csv["Content-Disposition"]
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0] == "_id,amount,customer"
    assert lines[2] == '2,25.5,"{""name"":""Bob"",""tier"":""silver""}"'
    jsonl = b"".join(alice.get(f"/queries/{query_id}/download.jsonl").streaming_content).decode()
    assert [json.loads(line)["_id"] for line in jsonl.splitlines()] == ["1", "2"]
    assert '"amount":25.5' in jsonl.replace(" ", "")


def test_a_select_star_csv_has_every_field_of_every_document(alice):
    query_id = run(alice, "SELECT * FROM orders ORDER BY _id")["Location"].split("=")[1]
    header = b"".join(alice.get(f"/queries/{query_id}/download.csv").streaming_content).decode().splitlines()[0]
    assert set(header.split(",")) >= {"_id", "_event_time", "status", "amount", "customer", "tags", "note", "big"}


def test_a_collections_fields_are_shown_beside_the_editor(alice):
    fragment = alice.get("/queries/fields/commons/orders/", **HTMX).content.decode()
    assert "<code>customer.name</code></td><td>string</td><td>5/5</td>" in fragment
    assert "<code>amount</code></td><td>int</td><td>3/5</td>" in fragment
    assert "<code>tags[*]</code></td><td>string</td><td>3/3</td>" in fragment
    page = alice.get(EDITOR, {"describe": "commons.orders"}).content.decode()  # without JavaScript
    assert "<code>customer.tier</code></td><td>string</td><td>3/5</td>" in page


def test_another_organisations_collection_has_no_fields_to_show(orders):
    assert client_for(orders.carol).get("/queries/fields/commons/orders/").status_code == 404


def test_the_collection_page_opens_the_editor_with_a_starter_query(orders, alice):
    from collections_app.models import Collection
    from collections_app.views import starter_query

    collection = Collection.objects.get(name="orders", workspace__organisation=orders.acme)
    assert starter_query(collection) == "SELECT *\nFROM commons.orders\nLIMIT 10"
    collection.workspace.name = "acme-ws"
    assert starter_query(collection) == 'SELECT *\nFROM "acme-ws".orders\nLIMIT 10'
    page = client_for(orders.alice).get(EDITOR, {"sql": starter_query(collection)}).content.decode()
    assert "FROM &quot;acme-ws&quot;.orders" in page


def test_an_empty_query_is_refused_with_a_message_with_and_without_htmx(alice):
    assert "This field is required." in run(alice, "", **HTMX).content.decode()
    assert "This field is required." in run(alice, "").content.decode()
    assert not Query.objects.exists()


def test_the_csv_of_star_and_named_fields_has_both(alice):
    query_id = run(alice, "SELECT o.*, o.customer.name AS who FROM orders o WHERE _id = '3'")["Location"].split("=")[1]
    lines = b"".join(alice.get(f"/queries/{query_id}/download.csv").streaming_content).decode().splitlines()
    assert lines[0].startswith("who,") and "status" in lines[0].split(",") and lines[1].startswith("cat,")


def test_the_editor_page_reads_a_bounded_number_of_rows(orders, alice, django_assert_max_num_queries):
    for n in range(30):
        run(alice, f"SELECT {n} AS n FROM orders LIMIT 1")
    with django_assert_max_num_queries(12):
        page = alice.get(EDITOR, {"query": str(Query.objects.latest("submitted_at").query_id)})
    assert page.content.decode().count('<li>\n    <a href="?query=') == 20  # the last twenty


def test_a_new_parameter_asks_for_its_value_before_running_then_is_bound(alice):
    sql = "SELECT _id FROM orders WHERE amount >= :min ORDER BY _id"
    asked = run(alice, sql)
    first = asked.content.decode()
    assert asked.status_code == 200 and "This query uses <code>:min</code>: give it a type and a value" in first
    assert 'name="type:min"' in first and 'name="value:min"' in first
    assert not Query.objects.exists()  # nothing ran, so no failure in the history
    second = alice.post(EDITOR, {"sql": sql, "type:min": "int", "value:min": "25"})
    page = alice.get(second["Location"]).content.decode()
    assert "<strong>2 rows</strong>" in page and "<td>2</td>" in page and "<td>3</td>" in page
    assert 'value="25"' in page and '<option value="int" selected>' in page  # kept with the query
    assert Query.objects.latest("submitted_at").parameters == [{"name": "min", "type": "int", "value": "25"}]


def test_htmx_swaps_in_the_parameter_inputs_of_the_query_just_run(alice):
    fragment = run(alice, "SELECT _id FROM orders WHERE status = :s", **HTMX).content.decode()
    assert '<div id="query-parameters" hx-swap-oob="true">' in fragment and 'name="value:s"' in fragment
    assert "This query uses <code>:s</code>" in fragment


# Cancel: the button the page shows while a run waits, which stops the run's database statement

ENDLESS = "SELECT COUNT(*) AS n FROM orders a " + " ".join(f"CROSS JOIN orders j{i}" for i in range(16))


def test_the_editor_has_a_cancel_button_hidden_until_a_query_runs(alice):
    page = alice.get(EDITOR).content.decode()
    assert 'name="run_id"' in page
    assert 'data-cancel data-cancel-url="/queries/00000000-0000-0000-0000-000000000000/cancel/" hidden>Cancel' in page
    script = alice.get("/static/js/query-editor.js")
    code = b"".join(script.streaming_content if script.streaming else [script.content]).decode()
    assert "htmx:configRequest" in code and "cancelButton.hidden = false" in code


def test_a_run_is_kept_under_the_id_the_page_gave_it(alice, orders):
    run_id = "6f1c9a52-8d7e-4b8e-9c11-2f4a5b6c7d8e"
    alice.post(EDITOR, {"sql": "SELECT _id FROM orders WHERE _id = '1'", "run_id": run_id}, **HTMX)
    query = Query.objects.get(query_id=run_id)
    assert query.user == orders.alice and query.status == Query.Status.COMPLETED
    # The same id again (a replayed form) is a new query with an id of its own, never the old one overwritten.
    alice.post(EDITOR, {"sql": "SELECT 1 AS one", "run_id": run_id}, **HTMX)
    assert Query.objects.filter(user=orders.alice).count() == 2 and Query.objects.get(query_id=run_id).sql.startswith(
        "SELECT _id"
    )


def test_someone_elses_query_cant_be_cancelled(orders):
    query = query_submit(organisation=orders.acme, user=orders.alice, via="console", sql="SELECT 1 AS one")
    bob = client_for(orders.bob)
    assert bob.post(f"/queries/{query.query_id}/cancel/", **HTMX).status_code == 404
    assert client_for(orders.carol).post(f"/queries/{query.query_id}/cancel/", **HTMX).status_code == 404
    assert client_for(orders.alice).get(f"/queries/{query.query_id}/cancel/").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_the_statement_the_editor_is_waiting_for(orders):
    run_id = "0b8e7c4d-1a2b-4c3d-8e9f-a0b1c2d3e4f5"
    answered: list[str] = []

    def run_in_the_editor() -> None:
        try:
            response = client_for(orders.alice).post(EDITOR, {"sql": ENDLESS, "run_id": run_id}, **HTMX)
            answered.append(response.content.decode())
        finally:
            connection.close()

    waiting = threading.Thread(target=run_in_the_editor)
    waiting.start()
    try:
        for _ in range(400):  # until the run's statement is under way
            if Query.objects.filter(query_id=run_id, status=Query.Status.RUNNING).exists():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the query never started")
        time.sleep(0.3)  # into the statement itself
        response = client_for(orders.alice).post(f"/queries/{run_id}/cancel/", **HTMX)
        assert response.status_code == 204
    finally:
        waiting.join(timeout=120)
    assert not waiting.is_alive(), "the statement went on after Cancel"
    query = Query.objects.get(query_id=run_id)
    assert query.status == Query.Status.CANCELLED and query.error_type == "QUERY_CANCELLED"
    assert "The query was cancelled." in answered[0]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND query LIKE '%%collections_app_document%%' AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
