"""The independent decoder (decoder.py, written from docs/FORMAT.md alone)
against a live segment published by a real shmconfd, and against the
golden segment: every key it decodes must equal `shmconfctl dump`, type for
type, and every key path must be found through the hash index."""

import copy
import json
import os
import struct

import pytest

import decoder
from conftest import BASE_CONFIG

# db_password is a sensitive key name holding a literal: allowed here.
DAEMON_ARGS = ("--plaintext-secrets", "allow")
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "data", "golden")

CONFIG = copy.deepcopy(BASE_CONFIG)
CONFIG.update(
    {
        "matrix": [[1, 2], [3, [4, {"deep": "yes"}]], []],
        "names": {"ünïcødé": 1, "host": "shared name", "a-b_c": 2.0},
        "shared": {"host": "db.internal", "port": 5432},
        "strings": {"empty": "", "quote": "a\"b\\c\n", "long": "x" * 1000},
        "db_password": "plain-secret-value",
    }
)


def strict_equal(a, b, path="$", ordered=True):
    """Equality that tells bool from int and int from float, and -0.0 from
    0.0 (and, if `ordered`, checks object members' order); returns the first
    difference's path, or None."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if (list(a) if ordered else sorted(a)) != (list(b) if ordered else sorted(b)):
            return f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            diff = strict_equal(a[k], b[k], f"{path}.{k}", ordered)
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = strict_equal(x, y, f"{path}[{i}]", ordered)
            if diff:
                return diff
        return None
    if isinstance(a, float):
        same = struct.pack("<d", a) == struct.pack("<d", b)
        return None if same else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"


def dump(daemon):
    out = daemon.ctl("dump", "--show-secrets").stdout
    return json.loads(out)


def check_every_key(seg, tree):
    """Each node's path is found by lookup() and names the same value as
    the dump at that path."""
    for i in range(1, len(seg.nodes)):
        path = seg.path(i)
        assert seg.lookup(path) == i, path
        want = tree
        for step in parse_path(path.decode()):
            want = want[step]
        diff = strict_equal(seg.to_python(i), want, path.decode())
        assert diff is None, diff


def parse_path(path):
    """'a.b[2].c' -> ['a', 'b', 2, 'c'] (names hold no '.', '[' or ']')."""
    steps = []
    for part in path.split("."):
        name, *indices = part.split("[")
        if name:
            steps.append(name)
        steps.extend(int(i.rstrip("]")) for i in indices)
    return steps


@pytest.fixture
def daemon_with_config(fresh_daemon):
    fresh_daemon.publish(CONFIG)
    return fresh_daemon


def test_live_segment_matches_dump_key_for_key(daemon_with_config):
    seg = decoder.open_live(daemon_with_config.prefix, "app")
    tree = dump(daemon_with_config)
    diff = strict_equal(seg.to_python(), tree)
    assert diff is None, diff
    check_every_key(seg, tree)
    assert seg.version == 2 and seg.record["version"] == 2
    assert seg.sources == ["file:" + daemon_with_config.source]


def test_lookups_refuse_near_misses(daemon_with_config):
    seg = decoder.open_live(daemon_with_config.prefix, "app")
    assert seg.lookup("servers[1].host") is not None
    for key in ["servers[01].host", "servers[1]host", "servers.1.host", "ervers[1].host",
                "servers[1].hos", "host", "xdatabase.port", "database.port.", "[0]"]:
        assert seg.lookup(key) is None, key


def test_sensitive_values_are_marked(daemon_with_config):
    seg = decoder.open_live(daemon_with_config.prefix, "app")
    assert seg.sensitive(seg.lookup("db_password"))
    assert not seg.sensitive(seg.lookup("database.host"))
    redacted = json.loads(daemon_with_config.ctl("dump").stdout)
    assert redacted["db_password"] == "<redacted>"


def test_change_list_and_metadata_after_publish(daemon_with_config):
    new = copy.deepcopy(CONFIG)
    new["database"]["port"] = 1
    del new["features"]["ratio"]
    new["servers"].append({"host": "edge-3"})
    daemon_with_config.publish(new)
    seg = decoder.open_live(daemon_with_config.prefix, "app")
    assert seg.h["prev_version"] == 2 and seg.version == 3
    assert seg.changed == [
        ("database.port", 3),
        ("features.ratio", 2),
        ("servers[2].host", 1),
    ]
    assert seg.trigger  # what caused it: a control request
    src, line, column = seg.origin(seg.lookup("database.port"))
    assert src == "file:" + daemon_with_config.source and line >= 1 and column >= 1
    check_every_key(seg, dump(daemon_with_config))


def test_golden_segment_decodes_to_its_json():
    with open(os.path.join(GOLDEN, "example-v3.seg"), "rb") as f:
        seg = decoder.Segment(f.read())
    with open(os.path.join(GOLDEN, "example.json")) as f:
        want = json.load(f)
    tree = seg.to_python()
    # The file's member order is not the segment's (sorted, §4.2).
    diff = strict_equal(tree, want, ordered=False)
    assert diff is None, diff
    assert (seg.version, seg.trigger, seg.sources) == (7, "golden", ["file:example.json"])
    for i in range(1, len(seg.nodes)):
        assert seg.lookup(seg.path(i)) == i


def test_older_formats_and_damaged_segments_are_refused():
    for old in ("example-v1.seg", "example-v2.seg"):
        with open(os.path.join(GOLDEN, old), "rb") as f:
            with pytest.raises(decoder.FormatError) as e:
                decoder.Segment(f.read())
        assert e.value.code == "version", old
    with open(os.path.join(GOLDEN, "example-v3.seg"), "rb") as f:
        good = bytearray(f.read())
    for offset in (0x48, 0x90, len(good) - 20):  # nodes_off, a node, the pool
        bad = bytearray(good)
        bad[offset] ^= 0x40
        with pytest.raises(decoder.FormatError) as e:
            decoder.Segment(bytes(bad))
        assert e.value.code == "corrupt"
    with pytest.raises(decoder.FormatError):
        decoder.Segment(bytes(good[:100]))
