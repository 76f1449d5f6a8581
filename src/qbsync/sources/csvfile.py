"""Reading a CSV file row by row, knowing each row's physical line, never stopping at a bad one.

The file is read as bytes and decoded line by line, so one line of Latin-1 in a UTF-8 file costs
that line (reported) and not the run. Line numbers are physical lines (the header is line 1; a
quoted value holding newlines makes its row span several lines, and the row is named by its
first). A row whose number of fields differs from the header's is reported and skipped: that is
what an unquoted comma in a name looks like, and reading it would shift every later column.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qbsync.errors import ConfigError
from qbsync.sources.records import Problem, ProblemKind


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line the row starts on (header = line 1)
    values: dict[str, str]  # known column (trimmed, lower-cased header) -> raw value


@dataclass
class CsvTable:
    name: str  # the file's name, as problems show it
    columns: tuple[str, ...]  # the known columns the header has
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_table(
    path: Path,
    *,
    setting: str,
    known: Sequence[str],
    required: Sequence[str],
    kind: ProblemKind,
    id_column: str,
) -> CsvTable:
    """Rows of ``path`` keyed by the ``known`` columns its header has; ConfigError if it cannot be.

    ``setting`` names the config key the path came from (``[source] members``) for the messages.
    """
    data = _read_bytes(path, setting)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    table = CsvTable(name=path.name, columns=())
    consumed: list[int] = []  # physical lines fed to the csv reader for the current row

    def decoded() -> Iterator[str]:
        for number, raw in enumerate(data.splitlines(keepends=True), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start]
                table.problems.append(
                    Problem(
                        f"{table.name} line {number}",
                        None,
                        None,
                        f"not UTF-8 text (byte 0x{bad:02x} at position {exc.start + 1})",
                    )
                )
                continue
            consumed.append(number)
            yield text

    reader = csv.reader(decoded())
    header: list[str] | None = None
    index: dict[str, int] = {}
    while True:
        consumed.clear()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            where = f"{table.name} line {consumed[0]}" if consumed else table.name
            table.problems.append(Problem(where, None, None, f"unreadable CSV ({exc})"))
            continue
        if header is None:
            if table.problems or consumed[:1] != [1]:
                raise ConfigError(
                    f"{path}: the header (line 1) is not UTF-8 text",
                    hint=f"save {path.name} as UTF-8 (with or without BOM)",
                )
            header = row
            index = _header_index(path, header, known, required)
            table.columns = tuple(index)
            continue
        if not any(value.strip() for value in row):
            continue  # a blank line, or only commas
        line = consumed[0]
        if len(row) != len(header):
            position = index.get(id_column)
            record_id = (
                row[position].strip() if position is not None and position < len(row) else ""
            )
            table.problems.append(
                Problem(
                    f"{table.name} line {line}",
                    record_id or None,
                    None,
                    f"{len(row)} fields where the header has {len(header)} "
                    "(an unquoted comma or quote?)",
                    kind if record_id else None,
                )
            )
            continue
        table.rows.append(CsvRow(line, {name: row[i] for name, i in index.items()}))
    if header is None:
        raise ConfigError(
            f"{path}: empty file; expected a header line naming the columns "
            f"({', '.join(required)} at least)",
            hint=f"check {setting} in the config",
        )
    return table


def _read_bytes(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file ({setting})",
            hint=f"check {setting} in the config (relative paths start at the config's folder)",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a folder; expected a CSV file ({setting})",
            hint=f"check {setting} in the config",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc} ({setting})") from None


def _header_index(
    path: Path, header: list[str], known: Sequence[str], required: Sequence[str]
) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, raw in enumerate(header):
        name = raw.strip().lower()
        if name not in known:
            continue  # columns qbsync does not use are ignored
        if name in index:
            raise ConfigError(
                f"{path}: column {name!r} appears twice in the header (columns "
                f"{index[name] + 1} and {position + 1})",
                hint=f"remove one of them from {path.name}",
            )
        index[name] = position
    for name in required:
        if name not in index:
            found = ", ".join(c.strip() for c in header if c.strip()) or "none"
            hint = f"add {article(name)} {name!r} column to {path.name}; required: " + ", ".join(
                required
            )
            if any(";" in cell for cell in header):
                # Spreadsheets in locales with a decimal comma save "CSV" with semicolons.
                hint = (
                    f"{path.name} looks semicolon-separated (its header line has ';'); qbsync "
                    "reads comma-separated CSV: save it with commas (a spreadsheet's "
                    "'CSV (comma delimited)')"
                )
            raise ConfigError(f"{path}: no {name!r} column (the header has: {found})", hint=hint)
    return index


# Words spelt with a vowel but said with a "y" or "w" sound take "a" (a unit, a one-off).
_VOWEL_SPELT_CONSONANT = ("uni", "use", "usu", "uti", "eu", "one", "once")


def article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (a column name): "an 'id' column", "a 'number' column"."""
    lower = word.strip().lower()
    if lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(_VOWEL_SPELT_CONSONANT):
        return "an"
    return "a"
