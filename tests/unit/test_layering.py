"""The layering style.md asks for, checked over every module rather than a hand-kept list:
the engine (everything outside qbsync/cli/) imports neither click nor rich, and only
cli/main.py turns errors into exit codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "qbsync"
CLI_ONLY = ("click", "rich")


def _modules(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py"))


ENGINE = [p for p in _modules(PACKAGE) if "cli" not in p.relative_to(PACKAGE).parts]


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_engine_list_is_not_empty() -> None:
    names = {p.name for p in ENGINE}
    assert {"tokens.py", "oauth.py", "qbo.py", "state.py", "credentials.py"} <= names


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_module_imports_neither_click_nor_rich(path: Path) -> None:
    assert not _imported(path) & set(CLI_ONLY), f"{path} imports a CLI library"


def _exits(path: Path) -> list[int]:
    """Lines that raise SystemExit or call sys.exit / ctx.exit."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id == "SystemExit":
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr == "exit" and isinstance(owner, ast.Name) and owner.id == "sys":
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "path",
    [p for p in _modules(PACKAGE / "cli") if p.name != "main.py"]
    + [p for p in _modules(PACKAGE) if p.parent == PACKAGE and p.name != "__main__.py"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_cli_main_maps_errors_to_exit_codes(path: Path) -> None:
    # Commands raise QbsyncError; cli/main.py:fail prints it and exits with its code.
    assert _exits(path) == [], f"{path} exits by itself"
