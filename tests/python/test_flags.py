"""Feature flags across languages: the Python binding (through the C ABI),
shmconfctl (C++) and an independent evaluation written here from
docs/FLAGS.md with python3-xxhash give every subject the same answer;
raising percent only adds subjects; a malformed flag is refused at publish."""

import copy
import json
import math

import pytest
import shmconf
import xxhash

from conftest import BASE_CONFIG

FLAGS = {
    "new_checkout": {"enabled": True, "percent": 25, "allow": ["alice"], "deny": ["bob"]},
    "half": {"enabled": True, "percent": 50.5},
    "killed": {"enabled": False, "percent": 100, "allow": ["alice"]},
    "everyone": {"enabled": True},
}
SUBJECTS = ["alice", "bob", ""] + [f"user-{i}" for i in range(3000)]


def with_flags(flags):
    config = copy.deepcopy(BASE_CONFIG)
    config["flags"] = flags
    return config


def bucket(name, subject):
    """docs/FLAGS.md: XXH3-64 of the subject, seeded with the flag's key hash
    (XXH3-64 of "flags.NAME", 0 read as 1), modulo 10000."""
    seed = xxhash.xxh3_64_intdigest(b"flags." + name.encode()) or 1
    return xxhash.xxh3_64_intdigest(subject.encode(), seed=seed) % 10000


def expected(flag, name, subject):
    """docs/FLAGS.md's rules, in their order."""
    if not flag["enabled"]:
        return False
    if subject in flag.get("deny", []):
        return False
    if subject in flag.get("allow", []):
        return True
    threshold = math.floor(flag.get("percent", 100) * 100 + 0.5)
    return bucket(name, subject) < threshold


@pytest.fixture
def flagged(fresh_daemon):
    fresh_daemon.publish(with_flags(FLAGS))
    return fresh_daemon


def test_binding_matches_the_documented_evaluation(flagged):
    c = shmconf.Client("app", prefix=flagged.prefix)
    with c.snapshot() as s:
        for name, flag in FLAGS.items():
            for subject in SUBJECTS:
                want = expected(flag, name, subject)
                assert c.flag(name, subject) is want, (name, subject)
                assert s.flag(name, subject) is want, (name, subject)
    on = sum(c.flag("half", s) for s in SUBJECTS)
    assert abs(on - 0.505 * len(SUBJECTS)) < 0.05 * len(SUBJECTS)


def test_flag_bucket_is_the_documented_hash():
    for name in FLAGS:
        for subject in SUBJECTS[:200] + ["ü" * 300]:
            assert shmconf.flag_bucket(name, subject) == bucket(name, subject)


def test_shmconfctl_gives_the_same_answers(flagged):
    c = shmconf.Client("app", prefix=flagged.prefix)
    for name in FLAGS:
        for subject in ["alice", "bob", "user-1", "user-2", "user-77", "user-2999"]:
            r = json.loads(flagged.ctl("--json", "flag", name, subject).stdout)
            assert r["on"] is c.flag(name, subject) is expected(FLAGS[name], name, subject)
            assert r["bucket"] == bucket(name, subject)
            assert (r["flag"], r["subject"], r["version"]) == (name, subject, 2)


def test_shmconfctl_explains_the_answer(flagged):
    out = flagged.ctl("flag", "new_checkout", "bob").stdout
    assert out.startswith('new_checkout for "bob": off\n  denied: "bob" is in deny\n')
    out = flagged.ctl("flag", "killed", "alice").stdout
    assert "off\n  disabled: enabled is false" in out
    b = bucket("new_checkout", "user-1")
    out = flagged.ctl("flag", "new_checkout", "user-1").stdout
    verdict = "on" if b < 2500 else "off"
    relation = "<" if b < 2500 else ">="
    assert f": {verdict}\n  percent: bucket {b} {relation} threshold 2500 (percent 25.00%)" in out


def test_missing_flag_is_the_default_in_python_and_exit_1_in_shmconfctl(flagged):
    c = shmconf.Client("app", prefix=flagged.prefix)
    assert c.flag("nope", "alice") is False
    assert c.flag("nope", "alice", True) is True
    r = flagged.ctl("flag", "nope", "alice", check=False)
    assert r.returncode == 1 and "flags.nope: key not found" in r.stderr


def test_raising_percent_only_adds_subjects(fresh_daemon):
    c = shmconf.Client("app", prefix=fresh_daemon.prefix)
    previous = set()
    for percent in [0, 5, 12.34, 40, 99.99, 100]:
        fresh_daemon.publish(with_flags({"rollout": {"enabled": True, "percent": percent}}))
        on = {s for s in SUBJECTS if c.flag("rollout", s)}
        assert previous <= on, f"percent {percent} dropped {sorted(previous - on)[:5]}"
        previous = on
    assert previous == set(SUBJECTS)


def test_malformed_flag_is_refused_at_publish(flagged):
    bad = with_flags({"beta": {"enabled": True, "percent": 150}})
    flagged.write(bad)
    r = flagged.ctl("reload", check=False)
    assert r.returncode == 1
    assert "flags.beta.percent: percent must be from 0 to 100" in r.stderr
    assert flagged.source + ":1:" in r.stderr  # file:line:col of the value
    c = shmconf.Client("app", prefix=flagged.prefix)
    assert c.version() == 2  # the live version stays
    assert c.flag("new_checkout", "alice") is True
