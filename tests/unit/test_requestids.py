"""requestid and bId values: deterministic, within QBO's lengths, distinct where they must be."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qbsync.errors import QboInvalidRequestError
from qbsync.qbo.requestids import bid, bids_for, request_id

# Two keys whose 10-character bIds really collide (found by brute force over "member-<n>").
CLASH = ("member-92866", "member-2682525")


def test_request_id_is_36_characters_with_the_kind_as_prefix() -> None:
    rid = request_id("customer-batch", ["m-1", "m-2"])
    assert len(rid) == 36
    assert rid.startswith("cus-")
    assert all(c in "0123456789abcdef" for c in rid[4:])


def test_request_id_is_stable_and_ignores_key_order() -> None:
    a = request_id("invoice", ["inv-2", "inv-1", "inv-3"])
    assert a == request_id("invoice", ["inv-1", "inv-2", "inv-3"])
    # A fixed value: the same in every process, on every machine, in every later version.
    assert request_id("invoice", ["inv-1"]) == "inv-" + _sha_prefix('["invoice",["inv-1"]]', 32)


def test_request_id_is_the_same_in_another_process() -> None:
    code = "from qbsync.qbo.requestids import request_id; print(request_id('member', ['a', 'b']))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == request_id("member", ["b", "a"])


def test_request_id_differs_by_kind_keys_and_key_boundaries() -> None:
    ids = {
        request_id("invoice", ["a"]),
        request_id("invoice-update", ["a"]),  # same 3-letter prefix, other kind
        request_id("invoice", ["b"]),
        request_id("invoice", ["a", "b"]),
        request_id("invoice", ["ab"]),
        request_id("invoice", ["a,b"]),
        request_id("invoice", ['a","b']),
    }
    assert len(ids) == 7


def test_request_id_takes_unicode_keys() -> None:
    assert len(request_id("member", ["Zoë", "مكتبة", "🎉"])) == 36


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("", ["a"]),
        ("in voice", ["a"]),
        ("inv/x", ["a"]),
        ("-inv", ["a"]),
        ("invoice", []),
        ("invoice", "abc"),  # a str is a sequence of characters: refused, not split
        ("invoice", ["a", ""]),
        ("invoice", ["a", 3]),
    ],
)
def test_request_id_refuses_bad_input(kind: str, keys: list[str]) -> None:
    with pytest.raises(QboInvalidRequestError):
        request_id(kind, keys)


def test_short_kinds_still_give_36_characters() -> None:
    assert len(request_id("m", ["a"])) == 36
    assert request_id("m", ["a"]).startswith("m-")
    assert request_id("ab-c", ["a"]).startswith("ab-")


def test_bid_is_10_hex_characters_and_stable() -> None:
    assert bid("member-1") == _sha_prefix("member-1", 10)
    assert len(bid("member-1")) == 10
    assert bid("member-1") != bid("member-2")
    with pytest.raises(QboInvalidRequestError):
        bid("")


def test_the_known_clash_really_clashes() -> None:
    assert bid(CLASH[0]) == bid(CLASH[1])


def test_bids_for_resolves_a_clash_deterministically_whatever_the_order() -> None:
    keys = ["member-1", CLASH[1], "member-2", CLASH[0]]
    got = bids_for(keys)
    assert set(got) == set(keys)
    assert len(set(got.values())) == 4
    assert all(len(v) == 10 for v in got.values())
    # The key that sorts first keeps its plain bId; the other gets the next free one.
    first, second = sorted(CLASH)
    assert got[first] == bid(first)
    assert got[second] != bid(second)
    assert got == bids_for(reversed(keys))
    assert got["member-1"] == bid("member-1")


def test_bids_for_thirty_keys_is_plain_bids() -> None:
    keys = [f"member-{i}" for i in range(30)]
    assert bids_for(keys) == {k: bid(k) for k in keys}


def test_bids_for_refuses_the_same_key_twice() -> None:
    with pytest.raises(QboInvalidRequestError, match="twice"):
        bids_for(["a", "b", "a"])


def _sha_prefix(text: str, n: int) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]
