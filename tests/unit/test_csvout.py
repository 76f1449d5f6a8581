"""CSV output is safe to open in a spreadsheet: formula-like cells become text."""

from __future__ import annotations

import csv
import io
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from qbsync.csvout import safe_cell, to_csv, write_csv


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Ann = treasurer", "Ann = treasurer"),  # only the first character matters
        ("ann@example.com", "ann@example.com"),
        ("-12.50", "-12.50"),  # a plain number stays a number
        ("+3", "+3"),
        ("", ""),
        (None, ""),
        (Decimal("-1.25E+1"), "-12.5"),
        (Decimal("5E-7"), "0.0000005"),
        (7, "7"),
        (True, "true"),
    ],
)
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_every_cell_of_the_file_is_neutralised_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "export.csv"
    rows = [["m1", "=cmd()", Decimal("25.00")], ["m2", 'Ann, "the" 2nd', None]]
    write_csv(path, ["member", "@name", "total"], rows)
    data = path.read_bytes()
    assert data.startswith("\ufeff".encode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert read == [
        ["member", "'@name", "total"],
        ["m1", "'=cmd()", "25.00"],
        ["m2", 'Ann, "the" 2nd', ""],
    ]
    assert to_csv(["a"], [["x"]]) == "a\r\nx\r\n"
