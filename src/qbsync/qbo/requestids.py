"""Deterministic QBO ``requestid`` and batch ``bId`` values from record keys. Pure.

QBO answers a repeated ``requestid`` (same company) with the original response instead of doing
the work again (qbo-facts.md "Idempotency"): at most 50 characters, 36 on a batch, where each
``bId`` is then at most 10. Deriving them from the records' keys (never from a clock or a random
source) means a run that crashed after sending, and the next run sending the same records, use the
same ids, in any process, on any machine.

- ``request_id(kind, keys)`` = ``kind[:3]`` + ``-`` + 32 hex digits of SHA-256 over the kind and
  the *sorted* keys: 36 characters, so it fits a batch; the order of the keys does not matter.
  The keys must name the *operation*, not only the record: an update of the same customer with
  new content needs a new requestid (put a content hash or the SyncToken in the keys), or QBO
  answers the old update's response and does nothing.
- ``bid(key)`` = 10 hex digits of SHA-256 of the key (40 bits): two keys of a 30-item batch share
  one with a probability of about 4e-10. It can still happen (``member-92866`` and
  ``member-2682525`` do), so a batch builder uses ``bids_for(keys)``, which guarantees distinct
  bIds within one batch, deterministically.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from qbsync.errors import QboInvalidRequestError

REQUEST_ID_LENGTH = 36  # QBO's batch limit; single requests allow 50
BID_LENGTH = 10
_KIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")


def request_id(kind: str, keys: Sequence[str]) -> str:
    """A 36-character requestid for the operation ``kind`` (e.g. "customer-batch") on ``keys``."""
    if not isinstance(kind, str) or not _KIND.fullmatch(kind.replace("-", "_")):
        raise QboInvalidRequestError(f"request kind must be letters, digits, - or _: {kind!r}")
    if isinstance(keys, str) or not keys:
        raise QboInvalidRequestError("request_id() needs a non-empty sequence of keys")
    material = json.dumps([kind, sorted(_checked(keys))], ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    prefix = kind[:3].rstrip("-_") or kind[0]
    return f"{prefix}-{digest[: REQUEST_ID_LENGTH - len(prefix) - 1]}"


def bid(key: str) -> str:
    """A 10-character batch item id for ``key``; unique in practice, not guaranteed (see bids_for)."""
    (key,) = _checked([key])
    return _bid(key, 0)


def bids_for(keys: Iterable[str]) -> dict[str, str]:
    """Distinct bIds for the keys of one batch: ``bid(key)`` unless two keys share it.

    On a clash, the key that sorts later gets the hash of ``key`` + "\\x00" + n instead, with the
    smallest n that is free; keys are handled in sorted order, so the result depends only on the
    set of keys, not their order. A key's bId can therefore differ between two batches that
    collide differently: match a batch's answers with the mapping of that batch. Duplicate keys
    are refused (one key, one item).
    """
    keys = _checked(list(keys))
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise QboInvalidRequestError(f"the same key twice in one batch: {dupes[:3]}")
    taken: set[str] = set()
    result: dict[str, str] = {}
    for key in sorted(keys):
        n = 0
        value = _bid(key, n)
        while value in taken:
            n += 1
            value = _bid(key, n)
        taken.add(value)
        result[key] = value
    return result


def _bid(key: str, n: int) -> str:
    material = key if n == 0 else f"{key}\x00{n}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:BID_LENGTH]


def _checked(keys: Iterable[str]) -> list[str]:
    keys = list(keys)
    for key in keys:
        if not isinstance(key, str) or not key:
            raise QboInvalidRequestError(f"record keys are non-empty strings, not {key!r}")
    return keys


def attempt_key(run_id: int | None, at: datetime) -> str:
    """A key that makes a requestid this attempt's (the run and the moment). QBO answers a
    repeated requestid with its first answer, so a retry after a refusal needs a new one; what
    protects against duplicates on a retry after an UNCLEAR outcome is looking in QBO first."""
    return f"\x00attempt {run_id} {at.isoformat()}"
