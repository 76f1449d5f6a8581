"""The csv source: members.csv and invoices.csv, good rows read, bad rows reported and skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError
from qbsync.sources import Address, InvoiceLine, Member, Source, open_source

TZ = timezone(timedelta(hours=-5), "EST")
MEMBER_HEADER = (
    "id,email,first_name,last_name,company,phone,address_line1,address_line2,city,region,"
    "postal_code,country,status,created_at\n"
)
INVOICE_HEADER = (
    "invoice_id,member_id,number,created_at,due_date,status,currency,description,quantity,"
    "unit_price,item_code,tax_code,tax_amount\n"
)


def _source(
    tmp_path: Path, members: str | bytes = "id,email\n", invoices: str | bytes | None = None
) -> Source:
    members_path = tmp_path / "members.csv"
    members_path.write_bytes(members.encode() if isinstance(members, str) else members)
    invoices_path = None
    if invoices is not None:
        invoices_path = tmp_path / "invoices.csv"
        invoices_path.write_bytes(invoices.encode() if isinstance(invoices, str) else invoices)
    config = SourceConfig(
        type="csv", members=members_path, invoices=invoices_path, base_dir=tmp_path
    )
    return open_source(config, tz=TZ)


def _problems(read: object) -> list[str]:
    return [str(p) for p in read.problems]  # type: ignore[attr-defined]


# -- members ----------------------------------------------------------------------------------


def test_members_read_every_column(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        MEMBER_HEADER
        + "m-1 , Ada@Example.com ,Ada,Lovelace,Engines Ltd,+44 1,1 Square,Flat 2,London,LDN,"
        "SW1,GB,ACTIVE,2024-01-15\n"
        "m-2,grace@example.org,Grace,Hopper,,,,,,,,,,2024-02-03T09:30:00\n"
        "m-3,linus@example.net,,,,,,,,,,,Inactive,2024-03-10T14:00:00+01:00\n",
    )
    assert source.name == "csv"
    read = source.members()
    assert read.problems == []
    assert read.records == [
        Member(
            id="m-1",
            email="Ada@Example.com",
            first_name="Ada",
            last_name="Lovelace",
            company="Engines Ltd",
            phone="+44 1",
            address=Address("1 Square", "Flat 2", "London", "LDN", "SW1", "GB"),
            status="active",
            created_at=datetime(2024, 1, 15, tzinfo=TZ),
        ),
        Member(
            id="m-2",
            email="grace@example.org",
            first_name="Grace",
            last_name="Hopper",
            created_at=datetime(2024, 2, 3, 9, 30, tzinfo=TZ),
        ),
        Member(
            id="m-3",
            email="linus@example.net",
            status="inactive",
            created_at=datetime(2024, 3, 10, 14, 0, tzinfo=timezone(timedelta(hours=1))),
        ),
    ]
    assert [m.active for m in read.records] == [True, True, False]


def test_members_need_only_id_and_email_and_ignore_other_columns(tmp_path: Path) -> None:
    read = _source(tmp_path, " Email ,notes,ID,Plan\nada@example.com,vip,m-1,gold\n").members()
    assert read.problems == []
    assert read.records == [Member(id="m-1", email="ada@example.com")]


@pytest.mark.parametrize("header", ["id,first_name\n", "email\n", "\n"])
def test_a_missing_required_column_names_the_file_and_column(tmp_path: Path, header: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _source(tmp_path, header + "x\n").members()
    missing = "email" if header.startswith("id") else "id"
    assert str(tmp_path / "members.csv") in caught.value.message
    assert f"no '{missing}' column" in caught.value.message
    assert caught.value.exit_code == 2


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = SourceConfig(type="csv", members=tmp_path / "nope.csv")
    with pytest.raises(ConfigError) as caught:
        open_source(config, tz=TZ).members()
    assert str(tmp_path / "nope.csv") in caught.value.message
    assert "[source] members" in caught.value.message


def test_an_empty_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty file"):
        _source(tmp_path, "").members()


def test_a_column_twice_in_the_header_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'email' appears twice"):
        _source(tmp_path, "id,email,EMAIL\n").members()


def test_a_header_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"header .* not UTF-8"):
        _source(tmp_path, b"id,\xe9mail\nm-1,a@b.co\n").members()


def test_utf8_with_bom_and_crlf_and_blank_lines(tmp_path: Path) -> None:
    data = "\ufeffid,email\r\nm-1,a@example.com\r\n\r\n,\r\nm-2,b@example.com\r\n".encode()
    read = _source(tmp_path, data).members()
    assert read.problems == []
    assert [m.id for m in read.records] == ["m-1", "m-2"]


def test_a_member_without_email_is_read_with_an_empty_email(tmp_path: Path) -> None:
    read = _source(tmp_path, "id,email,status\nm-1,,\nm-2,  ,\n").members()
    assert read.problems == []
    assert read.records == [Member(id="m-1", email=""), Member(id="m-2", email="")]


@pytest.mark.parametrize(
    "email",
    [
        "ada@",
        "ada",
        "ada@example",
        "@example.com",
        "a b@example.com",
        "ada@example.",
        "a@@b.co",
        "ada@.com",
    ],
)
def test_an_invalid_email_is_reported_and_the_row_skipped(tmp_path: Path, email: str) -> None:
    read = _source(tmp_path, f'id,email\nm-0,ok@example.com\nm-7,"{email}"\n').members()
    assert [m.id for m in read.records] == ["m-0"]
    assert _problems(read) == [f"members.csv line 3: member m-7: email: invalid email {email!r}"]
    problem = read.problems[0]
    assert (problem.where, problem.record_id, problem.field) == (
        "members.csv line 3",
        "m-7",
        "email",
    )


@pytest.mark.parametrize(
    "email", ["a+b@example.co.uk", "Linus@Example.NET", "o'neil@x.io", "ü@exämple.de"]
)
def test_valid_emails_pass_unchanged(tmp_path: Path, email: str) -> None:
    read = _source(tmp_path, f"id,email\nm-1,{email}\n").members()
    assert read.problems == [] and read.records[0].email == email


def test_a_row_without_id_is_reported(tmp_path: Path) -> None:
    read = _source(tmp_path, "id,email\n  ,a@example.com\n").members()
    assert read.records == []
    assert _problems(read) == ["members.csv line 2: id: no id"]


def test_a_duplicate_id_keeps_the_first_and_names_its_line(tmp_path: Path) -> None:
    read = _source(
        tmp_path,
        "id,email\nm-1,a@example.com\nm-2,b@example.com\nm-1,c@example.com\nm-1,d@example.com\n",
    ).members()
    assert [(m.id, m.email) for m in read.records] == [
        ("m-1", "a@example.com"),
        ("m-2", "b@example.com"),
    ]
    assert _problems(read) == [
        "members.csv line 4: member m-1: id: duplicate id (first on line 2)",
        "members.csv line 5: member m-1: id: duplicate id (first on line 2)",
    ]


def test_a_bad_first_row_still_claims_its_id(tmp_path: Path) -> None:
    read = _source(tmp_path, "id,email\nm-1,bad@\nm-1,good@example.com\n").members()
    assert read.records == []
    assert _problems(read) == [
        "members.csv line 2: member m-1: email: invalid email 'bad@'",
        "members.csv line 3: member m-1: id: duplicate id (first on line 2)",
    ]


@pytest.mark.parametrize("value", ["2024-13-01", "yesterday", "15/01/2024", "2024-01-15T25:00"])
def test_a_bad_date_is_reported(tmp_path: Path, value: str) -> None:
    read = _source(tmp_path, f"id,email,created_at\nm-1,a@example.com,{value}\n").members()
    assert read.records == []
    assert _problems(read) == [
        f"members.csv line 2: member m-1: created_at: invalid date {value!r} "
        "(expected ISO 8601 such as 2024-05-31 or 2024-05-31T14:00:00Z)"
    ]


def test_every_bad_field_of_a_row_is_reported(tmp_path: Path) -> None:
    read = _source(tmp_path, "id,email,created_at\nm-1,nope,nope\n").members()
    assert [(p.field, p.where) for p in read.problems] == [
        ("email", "members.csv line 2"),
        ("created_at", "members.csv line 2"),
    ]


def test_an_undecodable_line_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    data = b"id,email,last_name\nm-1,a@example.com,Ok\nm-2,b@example.com,M\xfcller\nm-3,c@example.com,Ok\n"
    read = _source(tmp_path, data).members()
    assert [m.id for m in read.records] == ["m-1", "m-3"]
    assert _problems(read) == ["members.csv line 3: not UTF-8 text (byte 0xfc at position 20)"]


def test_line_numbers_count_newlines_inside_quoted_values(tmp_path: Path) -> None:
    data = (
        'id,email,company\nm-1,a@example.com,"MIT\nCSAIL\nLab"\nm-2,bad,x\n'
        'm-3,c@example.com,"a\r\nb"\nm-4,bad,y\n'
    )
    read = _source(tmp_path, data).members()
    assert [m.company for m in read.records] == ["MIT\nCSAIL\nLab", "a\r\nb"]
    assert [p.where for p in read.problems] == ["members.csv line 5", "members.csv line 8"]


def test_a_row_with_more_or_fewer_fields_than_the_header_is_skipped(tmp_path: Path) -> None:
    read = _source(
        tmp_path,
        "id,email,last_name\nm-1,a@example.com,Smith, Jr.\nm-2,b@example.com\nm-3,c@example.com,Ok\n",
    ).members()
    assert [m.id for m in read.records] == ["m-3"]
    assert _problems(read) == [
        "members.csv line 2: member m-1: 4 fields where the header has 3 (an unquoted comma or quote?)",
        "members.csv line 3: member m-2: 2 fields where the header has 3 (an unquoted comma or quote?)",
    ]


NAMES = [
    'Navy "Bug" Hunters',
    "O'Hara",
    "Back\\slash\\\\",
    "Tōkyō: R&D; a=b",
    "佐藤 🎌👩🏽‍💻",
    "نور الهدى",
    "\u200fשלום\u200e",
    "semi;colon|pipe\ttab",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_pass_through_unchanged(tmp_path: Path, name: str) -> None:
    quoted = '"' + name.replace('"', '""') + '"'
    read = _source(
        tmp_path, f"id,email,first_name,company\nm-1,a@example.com,{quoted},{quoted}\n"
    ).members()
    assert read.problems == []
    assert (read.records[0].first_name, read.records[0].company) == (name, name)


def test_csv_refuses_options(tmp_path: Path) -> None:
    config = SourceConfig(type="csv", members=tmp_path / "m.csv", options={"delimiter": ";"})
    with pytest.raises(ConfigError, match=r"\[source.csv\].*'delimiter'"):
        open_source(config, tz=TZ)


# -- invoices ---------------------------------------------------------------------------------


def _row(
    invoice_id: str = "i-1",
    member_id: str = "m-1",
    number: str = "1001",
    created_at: str = "2024-06-01",
    due_date: str = "2024-06-30",
    status: str = "pending",
    currency: str = "USD",
    description: str = "Membership",
    quantity: str = "1",
    unit_price: str = "10.00",
    item_code: str = "MEM",
    tax_code: str = "",
    tax_amount: str = "",
) -> str:
    cells = [
        invoice_id, member_id, number, created_at, due_date, status, currency,
        description, quantity, unit_price, item_code, tax_code, tax_amount,
    ]  # fmt: skip
    return ",".join(cells) + "\n"


def _invoices(
    tmp_path: Path,
    *rows: str,
    statuses: tuple[str, ...] = ("pending",),
    since: datetime | None = None,
):  # type: ignore[no-untyped-def]
    source = _source(tmp_path, invoices=INVOICE_HEADER + "".join(rows))
    return source.invoices(statuses=statuses, created_since=since)


def test_rows_sharing_an_invoice_id_make_one_invoice_in_file_order(tmp_path: Path) -> None:
    read = _invoices(
        tmp_path,
        _row(
            "i-1",
            description="Membership",
            quantity="1",
            unit_price="150.00",
            tax_code="TAX",
            tax_amount="12.38",
        ),
        _row("i-2", member_id="m-2", number="1002", currency="eur", due_date=""),
        _row(
            "i-1", description='Workshop "Debug"', quantity="2", unit_price="49.95", tax_code="TAX"
        ),
        _row("i-1", description="Book", quantity="0.5", unit_price="12.3333333", item_code=""),
    )
    assert read.problems == []
    first, second = read.records
    assert first.id == "i-1" and first.member_id == "m-1" and first.number == "1001"
    assert first.created_at == datetime(2024, 6, 1, tzinfo=TZ)
    assert first.due_date == date(2024, 6, 30)
    assert first.status == "pending" and first.currency == "USD"
    assert first.tax_amount == Decimal("12.38")
    assert first.lines == (
        InvoiceLine("Membership", Decimal("1"), Decimal("150.00"), "MEM", "TAX"),
        InvoiceLine('Workshop "Debug"', Decimal("2"), Decimal("49.95"), "MEM", "TAX"),
        InvoiceLine("Book", Decimal("0.5"), Decimal("12.3333333"), "", ""),
    )
    assert str(first.lines[2].unit_price) == "12.3333333"  # exact, never through float
    assert second.id == "i-2" and second.currency == "EUR" and second.due_date is None
    assert second.tax_amount is None


def test_the_optional_columns_may_be_absent(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        invoices="invoice_id,member_id,number,created_at,status,quantity,unit_price\n"
        "i-1,m-1,7,2024-06-01T12:00:00Z,Pending,3,1.5\n",
    )
    read = source.invoices(statuses=["pending"], created_since=None)
    assert read.problems == []
    (invoice,) = read.records
    assert invoice.lines == (InvoiceLine("", Decimal("3"), Decimal("1.5")),)
    assert invoice.currency is None and invoice.due_date is None and invoice.tax_amount is None
    assert invoice.created_at == datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_invoices_without_the_setting_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[source\] invoices is not set"):
        _source(tmp_path).invoices(statuses=["pending"], created_since=None)


@pytest.mark.parametrize(
    "column",
    ["invoice_id", "member_id", "number", "created_at", "status", "quantity", "unit_price"],
)
def test_a_missing_required_invoice_column_is_a_config_error(tmp_path: Path, column: str) -> None:
    header = ",".join(c for c in INVOICE_HEADER.strip().split(",") if c != column)
    source = _source(tmp_path, invoices=header + "\n")
    with pytest.raises(ConfigError) as caught:
        source.invoices(statuses=["pending"], created_since=None)
    assert f"invoices.csv: no {column!r} column" in caught.value.message


def test_the_status_and_date_filter(tmp_path: Path) -> None:
    rows = [
        _row("i-1", status="Pending", created_at="2024-06-01"),
        _row("i-2", status="paid", created_at="2024-06-02"),
        _row("i-3", status="PENDING", created_at="2024-05-31T23:59:59"),
        _row("i-4", status="void", created_at="2024-06-03"),
        _row("i-5", status="pending", created_at="2024-06-01T05:00:00Z"),  # = midnight in TZ
    ]
    since = datetime(2024, 6, 1, tzinfo=TZ)
    assert [i.id for i in _invoices(tmp_path, *rows).records] == ["i-1", "i-3", "i-5"]
    assert [i.id for i in _invoices(tmp_path, *rows, statuses=("PAID", "pending")).records] == [
        "i-1", "i-2", "i-3", "i-5",
    ]  # fmt: skip
    assert [i.id for i in _invoices(tmp_path, *rows, since=since).records] == ["i-1", "i-5"]
    naive = datetime(2024, 6, 1)  # read in tz, like the data
    assert [i.id for i in _invoices(tmp_path, *rows, since=naive).records] == ["i-1", "i-5"]
    assert _invoices(tmp_path, *rows, statuses=()).records == []


def test_problems_are_reported_only_for_invoices_the_filter_keeps(tmp_path: Path) -> None:
    read = _invoices(
        tmp_path,
        _row("i-1", status="paid", quantity="x"),
        _row("i-2", created_at="2020-01-01", quantity="x"),
        _row("i-3", quantity="x"),
        _row("i-4", created_at="bad", quantity="1"),
        _row("i-5", status=" "),  # cannot tell: reported
        since=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert read.records == []
    assert [(p.record_id, p.field) for p in read.problems] == [
        ("i-3", "quantity"),
        ("i-4", "created_at"),
        ("i-5", "status"),
    ]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("quantity", "abc", "not a decimal number: 'abc'"),
        ("quantity", '"1,5"', "not a decimal number: '1,5'"),
        ("quantity", "1e3", "not a decimal number: '1e3'"),
        ("quantity", "NaN", "not a decimal number: 'NaN'"),
        ("unit_price", "Infinity", "not a decimal number: 'Infinity'"),
        ("unit_price", "$10", "not a decimal number: '$10'"),
        ("unit_price", "0.12345678", "more than 7 decimals: '0.12345678'"),
        ("quantity", "1.00000000", "more than 7 decimals: '1.00000000'"),
        ("quantity", "", "no quantity"),
        ("unit_price", " ", "no unit_price"),
        ("tax_amount", "ten", "not a decimal number: 'ten'"),
        ("member_id", "", "no member_id"),
        ("number", "", "no number"),
        ("created_at", "", "no created_at"),
        ("status", "", "no status"),
        (
            "due_date",
            "2024-02-30",
            "invalid date '2024-02-30' (expected ISO 8601 such as 2024-05-31 or 2024-05-31T14:00:00Z)",
        ),
        ("currency", "US$", "invalid currency 'US$' (expected a 3-letter ISO code such as USD)"),
    ],
)
def test_a_bad_value_skips_the_invoice(
    tmp_path: Path, column: str, value: str, reason: str
) -> None:
    read = _invoices(tmp_path, _row("i-0"), _row("i-1", **{column: value}))
    assert [i.id for i in read.records] == ["i-0"]
    assert _problems(read) == [f"invoices.csv line 3: invoice i-1: {column}: {reason}"]


def test_a_bad_line_skips_the_whole_invoice(tmp_path: Path) -> None:
    read = _invoices(tmp_path, _row("i-1"), _row("i-1", unit_price="x"), _row("i-1", quantity="y"))
    assert read.records == []
    assert _problems(read) == [
        "invoices.csv line 3: invoice i-1: unit_price: not a decimal number: 'x'",
        "invoices.csv line 4: invoice i-1: quantity: not a decimal number: 'y'",
    ]


def test_seven_decimals_negative_and_zero_amounts_are_kept(tmp_path: Path) -> None:
    read = _invoices(
        tmp_path, _row(quantity="-1", unit_price="0.1234567"), _row(quantity="+0", unit_price=".5")
    )
    assert read.problems == []
    assert [(ln.quantity, ln.unit_price) for ln in read.records[0].lines] == [
        (Decimal("-1"), Decimal("0.1234567")),
        (Decimal("0"), Decimal("0.5")),
    ]


@pytest.mark.parametrize(
    ("column", "first", "other"),
    [
        ("member_id", "m-1", "m-2"),
        ("number", "1001", "1002"),
        ("created_at", "2024-06-01", "2024-06-02"),
        ("due_date", "2024-06-30", ""),
        ("status", "pending", "paid"),
        ("currency", "USD", "EUR"),
    ],
)
def test_rows_of_one_invoice_that_disagree_skip_it(
    tmp_path: Path, column: str, first: str, other: str
) -> None:
    read = _invoices(
        tmp_path,
        _row("i-1", **{column: first}),
        _row("i-2"),
        _row("i-1", **{column: first}),
        _row("i-1", **{column: other}),
    )
    assert [i.id for i in read.records] == ["i-2"]
    assert _problems(read) == [
        f"invoices.csv line 5: invoice i-1: {column}: {other!r} here but {first!r} on line 2 "
        "(rows of one invoice must agree)"
    ]


def test_status_and_currency_agree_whatever_their_case(tmp_path: Path) -> None:
    read = _invoices(
        tmp_path, _row(status="pending", currency="usd"), _row(status="PENDING", currency="USD")
    )
    assert read.problems == [] and read.records[0].currency == "USD"


@pytest.mark.parametrize(
    ("values", "agree"),
    [
        (["1.00", "1.00", "1.00"], True),
        (["1.00", "", ""], True),
        (["1.00", "", "1.00"], True),
        (["", "", ""], True),
        (["1.00", "2.00"], False),
        (["", "1.00"], False),
        (["1.00", "", "2.00"], False),
    ],
)
def test_tax_amount_on_every_row_or_only_the_first(
    tmp_path: Path, values: list[str], agree: bool
) -> None:
    read = _invoices(tmp_path, *(_row(tax_amount=v) for v in values))
    if agree:
        assert read.problems == []
        assert read.records[0].tax_amount == (Decimal(values[0]) if values[0] else None)
    else:
        assert read.records == []
        assert [(p.record_id, p.field) for p in read.problems] == [("i-1", "tax_amount")]


def test_a_row_without_invoice_id_is_reported(tmp_path: Path) -> None:
    read = _invoices(tmp_path, _row(""), _row("i-2"))
    assert [i.id for i in read.records] == ["i-2"]
    assert _problems(read) == ["invoices.csv line 2: invoice_id: no invoice_id"]


def test_due_date_may_be_a_datetime_read_as_its_day_in_tz(tmp_path: Path) -> None:
    read = _invoices(tmp_path, _row(due_date="2024-07-01T02:00:00Z"))
    assert read.records[0].due_date == date(2024, 6, 30)
