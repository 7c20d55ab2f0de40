from ingest import clock
from tests.ingest.engine import create_source, load, make_table


def test_debug(people, integration, aws, faults):
    spent = []
    faults.charge_like_dynamodb(spent)
    calls = faults.spy("dynamodb", "Scan")
    make_table(aws.dynamodb, "t", 240)
    n0 = len(spent)
    source = create_source(people.acme, people.alice, integration, "t", rcu=8)
    print("table", source.table_size_bytes, source.table_item_count)
    started = clock.monotonic()
    load(source)
    print("took", clock.monotonic() - started)
    for (t, u), c in zip(spent[n0:], calls, strict=False):
        print(round(t - started, 3), u, c.get("Limit"), c.get("Segment"))
