"""The Python binding against a running shmconfd: reads, errors, snapshots,
sections, wait_for_change, subscribe, rollback, and a reader in another
process."""

import copy
import os
import subprocess
import sys
import threading

import pytest
import shmconf

from conftest import BASE_CONFIG, WAIT


@pytest.fixture(scope="module")
def client(daemon):
    c = shmconf.Client("app", prefix=daemon.prefix)
    yield c
    c.close()


def test_open_missing_namespace_raises_no_namespace(daemon):
    with pytest.raises(shmconf.NoNamespace) as e:
        shmconf.Client("absent", prefix=daemon.prefix)
    assert e.value.code == -30104
    assert isinstance(e.value, shmconf.Error)


def test_open_invalid_name_raises(daemon):
    with pytest.raises(shmconf.Error):
        shmconf.Client("no/slash", prefix=daemon.prefix)


def test_get_scalars_have_python_types(client):
    assert client.get("database.port") == 5432 and type(client.get("database.port")) is int
    assert client.get("database.host") == "db.internal"
    assert client.get("features.beta") is True
    assert client.get("features.ratio") == 0.25
    assert client.get("features.name") == "grüße ✓"
    assert client["servers[1].host"] == "edge-2"


def test_get_int64_extremes_and_negative_zero(client):
    assert client.get_int("limits.min") == -(2**63)
    assert client.get_int("limits.max") == 2**63 - 1
    z = client.get_float("limits.neg_zero")
    assert z == 0.0 and str(z) == "-0.0"


def test_get_section_returns_copies(client):
    assert client.get("database") == BASE_CONFIG["database"]
    assert client.get("servers") == BASE_CONFIG["servers"]
    assert client.get("empty_list") == [] and client.get("empty_obj") == {}
    client.get("database")["port"] = 1  # a copy: the segment is untouched
    assert client.get_int("database.port") == 5432


def test_missing_key_raises_not_found_also_a_key_error(client):
    with pytest.raises(KeyError):
        client.get("database.nope")
    with pytest.raises(shmconf.NotFound) as e:
        client["database.nope"]
    assert e.value.key == "database.nope"
    assert e.value.code == -30101
    assert "database.nope" in str(e.value)


def test_defaults_answer_missing_keys_only(client):
    assert client.get("database.nope", 7) == 7
    assert client.get("database.nope", default=None) is None
    assert client.get_int("database.nope", 5432) == 5432
    assert client.get_str("database.nope", "x") == "x"
    assert client.get_bool("nope", False) is False
    assert client.get_float("nope", 1.5) == 1.5
    with pytest.raises(shmconf.WrongType):
        client.get_int("database.host", 1)  # a default does not hide a wrong type


def test_typed_getters_check_types(client):
    with pytest.raises(shmconf.WrongType) as e:
        client.get_str("database.port")
    assert isinstance(e.value, TypeError)
    with pytest.raises(shmconf.WrongType):
        client.get_int("features.beta")  # a bool is not an int here
    with pytest.raises(shmconf.WrongType):
        client.get_bool("database.port")
    assert client.get_float("database.port") == 5432.0  # an int widens, as in C
    assert client.get("database.port", type=int) == 5432
    assert client.get("servers", type=list)[0]["host"] == "edge-1"
    assert client.get("database", type=dict)["host"] == "db.internal"
    with pytest.raises(shmconf.WrongType):
        client.get("database", type=list)
    with pytest.raises(ValueError):
        client.get("database.port", type=bytes)


def test_contains(client):
    assert "database.port" in client
    assert "database.nope" not in client
    assert "servers[1]" in client and "servers[2]" not in client


def test_keys_and_items_list_a_section_in_key_order(client):
    assert client.keys() == sorted(BASE_CONFIG)
    assert client.keys("database") == ["database.host", "database.pool", "database.port"]
    assert client.items("servers") == [
        ("servers[0]", {"host": "edge-1", "port": 8080}),
        ("servers[1]", {"host": "edge-2", "port": 8081}),
    ]
    assert client.keys("empty_obj") == []
    with pytest.raises(shmconf.WrongType):
        client.keys("database.port")
    with pytest.raises(shmconf.NotFound):
        client.keys("nope")


def test_snapshot_is_a_context_manager_and_releases(client):
    with client.snapshot() as s:
        assert s.version == client.version()
        assert s.get_int("database.port") == 5432
        assert s["database.pool.max_size"] == 32
        assert list(s) == sorted(BASE_CONFIG)
        assert s.items("database.pool") == [
            ("database.pool.max_size", 32),
            ("database.pool.timeout_ms", 250.5),
        ]
    with pytest.raises(shmconf.InvalidArgument):
        s.get("database.port")


def test_wait_for_change_times_out_with_none(client):
    assert client.wait_for_change(timeout=0.01) is None


def test_closed_client_refuses_reads(daemon):
    c = shmconf.Client("app", prefix=daemon.prefix)
    s = c.snapshot()
    c.close()
    with pytest.raises(shmconf.InvalidArgument):
        c.get("database.port")
    assert s.get("database.port") == 5432  # a snapshot's pin outlives the client
    s.release()


def changed(config, **database):
    new = copy.deepcopy(config)
    new["database"].update(database)
    return new


def test_one_shot_get_sees_a_publish_and_snapshot_stays_pinned(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    assert c.get_int("database.port") == 5432
    pinned = c.snapshot()
    fresh_daemon.publish(changed(BASE_CONFIG, port=6543))
    assert c.get_int("database.port") == 6543
    assert c.version() == pinned.version + 1
    assert pinned.get_int("database.port") == 5432  # the old version, still mapped
    pinned.release()


def test_rollback_is_seen_by_one_shot_reads(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    fresh_daemon.publish(changed(BASE_CONFIG, port=1111))
    assert c.get_int("database.port") == 1111
    fresh_daemon.ctl("rollback")
    assert c.get_int("database.port") == 5432
    assert c.version() == 1


def test_wait_for_change_wakes_on_publish(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    assert c.get_int("database.port") == 5432  # the version these reads served
    result = {}

    def waiter():
        result["version"] = c.wait_for_change(timeout=WAIT)

    t = threading.Thread(target=waiter)
    t.start()  # the GIL is released while it waits, so publishing proceeds
    fresh_daemon.publish(changed(BASE_CONFIG, port=2222))
    t.join(WAIT)
    assert result["version"] == 2
    # A publish that happened before the call is not missed: known defaults
    # to the version this client's reads last served (still 1).
    assert c.wait_for_change(timeout=0) == 2


def test_subscribe_reports_changes_under_prefix(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    got = []
    cond = threading.Condition()

    def on_change(version, changes):
        with cond:
            got.append((version, changes))
            cond.notify_all()

    with c.subscribe("database.", on_change):
        new = changed(BASE_CONFIG, port=3333, user="svc")
        del new["database"]["host"]
        new["features"]["beta"] = False  # outside the prefix
        fresh_daemon.publish(new)
        with cond:
            assert cond.wait_for(lambda: got, WAIT)
    version, changes = got[0]
    assert version == 2
    assert changes == [
        shmconf.Change("database.host", "removed", "db.internal", None),
        shmconf.Change("database.port", "changed", 5432, 3333),
        shmconf.Change("database.user", "added", None, "svc"),
    ]


def test_subscription_must_stop_before_close_and_survives_callback_errors(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    seen = []
    cond = threading.Condition()
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(u.exc_value)

    def on_change(version, changes):
        with cond:
            seen.append(version)
            cond.notify_all()
        raise ValueError("callback failed")

    try:
        sub = c.subscribe("", on_change)
        with pytest.raises(shmconf.InvalidArgument):
            c.close()
        fresh_daemon.publish(changed(BASE_CONFIG, port=1))
        fresh_daemon.publish(changed(BASE_CONFIG, port=2))
        with cond:
            assert cond.wait_for(lambda: 3 in seen, WAIT)
        sub.stop()
        assert not sub.active
    finally:
        sys.unraisablehook = old_hook
    assert any(isinstance(e, ValueError) for e in unraisable)
    c.close()


READER = r"""
import sys, shmconf
c = shmconf.Client("app", prefix=sys.argv[1])
print(c.get_int("database.port"), flush=True)
v = c.wait_for_change(timeout=30)
print(v, c.get_int("database.port"), flush=True)
"""


def test_reader_in_another_process_sees_the_publish(fresh_daemon):
    env = dict(os.environ)
    p = subprocess.Popen(
        [sys.executable, "-c", READER, fresh_daemon.prefix],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert p.stdout.readline().strip() == "5432"  # attached, read version 1
        fresh_daemon.publish(changed(BASE_CONFIG, port=4444))
        assert p.stdout.readline().split() == ["2", "4444"]
        assert p.wait(WAIT) == 0
    finally:
        if p.poll() is None:
            p.kill()


def _reader_pids(daemon):
    out = daemon.ctl("readers").stdout
    pids = set()
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            pids.add(int(fields[0]))
    return pids


def test_register_false_keeps_the_client_out_of_the_reader_registry(fresh_daemon):
    script = (
        "import shmconf, sys\n"
        "c = shmconf.Client('app', prefix=sys.argv[1], register=sys.argv[2] == '1')\n"
        "print(c.get('database.port'), flush=True)\n"
        "sys.stdin.readline()\n"
    )
    procs = []
    try:
        for reg in ("1", "0"):
            p = subprocess.Popen([sys.executable, "-c", script, fresh_daemon.prefix, reg],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "5432"
        listed = _reader_pids(fresh_daemon)
        assert procs[0].pid in listed
        assert procs[1].pid not in listed
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(WAIT)


def test_expected_owner_refuses_objects_of_another_owner(daemon):
    mine = shmconf.Client("app", prefix=daemon.prefix, expected_owner=os.getuid())
    assert mine.get("database.port") == 5432
    mine.close()
    with pytest.raises(shmconf.PermissionDenied):
        shmconf.Client("app", prefix=daemon.prefix, expected_owner=os.getuid() + 12345)
