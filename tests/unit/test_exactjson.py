"""Money goes over the wire digit for digit, both from qbsync and from the emulator."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from qbsync.exactjson import dumps


def test_decimal_amounts_are_written_exactly() -> None:
    amount = Decimal("12345678901234567.89")  # float would make this ...568.0
    text = dumps({"Amount": amount, "Qty": 3, "Lines": [Decimal("0.10"), None, True]})
    assert text == '{"Amount":12345678901234567.89,"Qty":3,"Lines":[0.10,null,true]}'
    assert json.loads(text, parse_float=Decimal)["Amount"] == amount


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        dumps({"Amount": Decimal("NaN")})
    with pytest.raises(ValueError):
        dumps([float("inf")])


def test_other_types_need_a_default() -> None:
    with pytest.raises(TypeError):
        dumps({"TxnDate": date(2026, 11, 5)})
    assert dumps({"TxnDate": date(2026, 11, 5)}, default=str) == '{"TxnDate":"2026-11-05"}'


def test_text_is_not_ascii_escaped() -> None:
    assert dumps({"DisplayName": "Zoë Ångström"}) == '{"DisplayName":"Zoë Ångström"}'


def test_fast_and_slow_paths_write_the_same_text() -> None:
    from decimal import Decimal

    from qbsync import exactjson

    value = {"a": [Decimal("0.10"), Decimal("-1E+3"), 1.5, None, True, "q\"'\\ü🦄"], "b": {"c": 3}}
    fast = exactjson.dumps(value)
    assert fast == '{"a":[0.10,-1000,1.5,null,true,"q\\"\'\\\\ü🦄"],"b":{"c":3}}'
    # A string that looks like a marker (NUL, digits) is left alone: markers carry a nonce.
    assert exactjson.dumps({"n": "x\x000\x00", "d": Decimal("2.50")}) == (
        '{"n":"x\\u00000\\u0000","d":2.50}'
    )


def test_numbers_in_exponent_form_are_written_in_plain_digits() -> None:
    # `1e2` read from JSON and `0.0000005` read from CSV: str() gives 1E+2 and 5E-7; QBO bodies
    # carry plain digits only.
    text = dumps(
        {"Qty": Decimal("1E+2"), "UnitPrice": Decimal("0.0000005"), "Tax": Decimal("0E-2")}
    )
    assert text == '{"Qty":100,"UnitPrice":0.0000005,"Tax":0.00}'


def test_a_number_too_long_for_plain_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="plain digits"):
        dumps({"Qty": Decimal("1E+999999999")})
