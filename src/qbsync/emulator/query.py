"""QBO's query language: the parser, pure (no store, no HTTP). Checking and running a parsed
query is in query_eval.py.

Grammar (qbo-facts.md "Query"; Intuit "Data queries" page):

    SELECT (* | COUNT(*) | field[, field...]) FROM Entity
        [WHERE cond [AND cond]...] [ORDERBY field [ASC|DESC][, ...]]
        [STARTPOSITION n] [MAXRESULTS n]
    cond := field (= | < | > | <= | >= | LIKE) value | field IN (value[, value...])

Keywords and entity names are case-insensitive; field names are matched exactly (stricter than
needed; see docs/emulator-rules.md). OR, JOIN, GROUP BY, parentheses are refused with a 4000 fault
like QBO's QueryParserError; a well-formed query naming a field or value QBO refuses is 4001
"Invalid query" with a QueryValidationError detail, the code of a captured QBO answer
(ruckus/quickbooks-ruby issue 403: ``QueryValidationError: property 'PrimaryEmailAddr' is not
queryable`` came back as code 4001). Which fields may be filtered, and their types, is given by the
caller (``FieldSpec``), so this module knows nothing about entities.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_RESULTS_LIMIT = 1000  # qbo-facts.md: MAXRESULTS max 1000
DEFAULT_MAX_RESULTS = 100

# Field kinds the evaluator knows how to compare.
STR, ID, DECIMAL, BOOL, DATE, DATETIME, REF, EMAIL = (
    "str",
    "id",
    "decimal",
    "bool",
    "date",
    "datetime",
    "ref",
    "email",
)

FieldSpec = Mapping[str, str]  # filterable field path -> kind


class QueryError(Exception):
    """A query QBO would refuse; ``detail`` mimics QBO's QueryParserError / QueryValidationError."""

    def __init__(self, detail: str, element: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.element = element
        # 4000 "Error parsing query" for syntax; 4001 "Invalid query" for a well-formed query
        # naming what QBO refuses (captured in ruckus/quickbooks-ruby issue 403).
        validation = detail.startswith("QueryValidationError")
        self.code = "4001" if validation else "4000"
        self.message = "Invalid query" if validation else "Error parsing query"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "=", "<", ">", "<=", ">=", "LIKE", "IN"
    values: tuple[Any, ...]  # raw literals: str (quoted), bool, or Decimal (unquoted number)


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool = False
    fields: tuple[str, ...] = ("*",)
    where: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    extra: dict[str, Any] = field(default_factory=dict)

    def mentions(self, name: str) -> bool:
        return any(c.field == name for c in self.where)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:\\.|[^'\\])*')
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<num>-?[0-9]+(?:\.[0-9]+)?(?![\w.]))
      | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)


_UNESCAPE = re.compile(r"\\([\\'])")


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(
                f'QueryParserError: Encountered "{text[pos : pos + 10].strip()}" at column {pos + 1}'
            )
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "str":
            # QBO escapes a quote inside a value as \' (qbo-facts.md); a backslash itself as \\
            # (unverified at Intuit: the usual rule, and the only one that lets a value end in
            # a backslash). Any other backslash stays as it is.
            tokens.append(("str", _UNESCAPE.sub(lambda e: e.group(1), raw[1:-1])))
        elif kind == "num":
            tokens.append(("num", Decimal(raw)))
        else:
            tokens.append((kind, raw))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, expected: str = "") -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise QueryError(
                f"QueryParserError: Encountered <EOF>; was expecting {expected or 'more'}"
            )
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].upper() in words

    def expect_word(self, word: str) -> None:
        kind, value = self.next(word)
        if kind != "word" or value.upper() != word:
            raise QueryError(f'QueryParserError: Encountered "{value}"; was expecting {word}')

    def expect_punct(self, p: str) -> None:
        kind, value = self.next(p)
        if kind != "punct" or value != p:
            raise QueryError(f'QueryParserError: Encountered "{value}"; was expecting "{p}"')

    def parse(self) -> Query:
        self.expect_word("SELECT")
        count = False
        fields: list[str] = []
        if self.is_word("COUNT"):
            self.next()
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            # `*` may come with named fields: python-quickbooks' Item.all() sends
            # "SELECT *, Sku FROM Item", which QBO answers.
            while True:
                kind, value = self.next("a field or *")
                if kind == "punct" and value == "*":
                    fields.append("*")
                elif kind == "word" and value.upper() != "FROM":
                    fields.append(value)
                else:
                    raise QueryError(f'QueryParserError: Encountered "{value}" in select list')
                if self.peek() == ("punct", ","):
                    self.next()
                    continue
                break
        self.expect_word("FROM")
        kind, entity = self.next("an entity")
        if kind != "word":
            raise QueryError(f'QueryParserError: Encountered "{entity}"; was expecting an entity')
        where: list[Condition] = []
        if self.is_word("WHERE"):
            self.next()
            where.append(self.condition())
            while self.is_word("AND", "OR"):
                _, word = self.next()
                if word.upper() == "OR":
                    # QBO has no OR (qbo-facts.md): a parse error, not an empty result.
                    raise QueryError(
                        'QueryParserError: Encountered " <OR> "OR "" ; OR is not supported'
                    )
                where.append(self.condition())
        order_by: list[tuple[str, bool]] = []
        if self.is_word("ORDERBY", "ORDER"):
            _, word = self.next()
            if word.upper() == "ORDER":
                self.expect_word("BY")
            while True:
                kind, name = self.next("a field")
                if kind != "word":
                    raise QueryError(f'QueryParserError: Encountered "{name}" in ORDERBY')
                desc = False
                if self.is_word("ASC", "DESC"):
                    desc = self.next()[1].upper() == "DESC"
                order_by.append((name, desc))
                if self.peek() == ("punct", ","):
                    self.next()
                    continue
                break
        start, maximum = 1, DEFAULT_MAX_RESULTS
        seen: set[str] = set()
        while self.is_word("STARTPOSITION", "MAXRESULTS"):
            _, word = self.next()
            if word.upper() in seen:
                raise QueryError(f'QueryParserError: Encountered "{word}" a second time')
            seen.add(word.upper())
            kind, num = self.next("a number")
            if kind != "num" or num != num.to_integral_value():
                raise QueryError(f'QueryParserError: Encountered "{num}"; {word} needs an integer')
            if word.upper() == "STARTPOSITION":
                start = int(num)
            else:
                maximum = int(num)
        tok = self.peek()
        if tok is not None:
            raise QueryError(f'QueryParserError: Encountered "{tok[1]}" at the end of the query')
        if start < 1:
            raise QueryError("QueryValidationError: STARTPOSITION must be 1 or more")
        if maximum < 1 or maximum > MAX_RESULTS_LIMIT:
            raise QueryError(
                f"QueryValidationError: MAXRESULTS must be between 1 and {MAX_RESULTS_LIMIT}"
            )
        return Query(
            entity=entity,
            count=count,
            fields=tuple(fields) or ("*",),
            where=tuple(where),
            order_by=tuple(order_by),
            start_position=start,
            max_results=maximum,
        )

    def literal(self) -> Any:
        kind, value = self.next("a value")
        if kind in ("str", "num"):
            return value
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise QueryError(f'QueryParserError: Encountered "{value}"; was expecting a value')

    def condition(self) -> Condition:
        kind, name = self.next("a field")
        if kind != "word":
            raise QueryError(f'QueryParserError: Encountered "{name}"; was expecting a field')
        kind, op = self.next("an operator")
        if kind == "op" and op in ("=", "<", ">", "<=", ">="):
            return Condition(name, op, (self.literal(),))
        if kind == "word" and op.upper() == "LIKE":
            value = self.literal()
            if not isinstance(value, str):
                raise QueryError("QueryParserError: LIKE needs a quoted value")
            return Condition(name, "LIKE", (value,))
        if kind == "word" and op.upper() == "IN":
            self.expect_punct("(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.next()
                values.append(self.literal())
            self.expect_punct(")")
            return Condition(name, "IN", tuple(values))
        raise QueryError(f'QueryParserError: Encountered "{op}"; operator not supported')


def parse(text: str) -> Query:
    """Parse one QBO query; raises QueryError (QBO code 4000) on anything QBO would refuse."""
    if not text or not text.strip():
        raise QueryError("QueryParserError: the query is empty")
    return _Parser(text).parse()
