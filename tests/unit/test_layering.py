"""The layering docs/architecture.md promises, checked over every module rather than a hand-kept list.

- the engine (everything outside qbsync/cli/) imports neither click nor rich;
- only cli/main.py turns errors into exit codes;
- sqlite3 is imported only in state/; requests only in qbo/, auth/, sources/ and the emulator's browser;
- nothing outside cli/ imports qbsync.cli; the emulator imports nothing from config/, auth/, qbo/,
  state/, sync/, sources/ or cli/;
- no import cycle between modules; no private name imported across modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "qbsync"
CLI_ONLY = ("click", "rich")


def _modules(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py"))


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


ALL = _modules(PACKAGE)
ENGINE = [p for p in ALL if "cli" not in p.relative_to(PACKAGE).parts]
MODULE_NAMES = {_name(p) for p in ALL}


def _typing_only(tree: ast.AST) -> set[int]:
    """Ids of import nodes under `if TYPE_CHECKING:` (never run, so never a cycle)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def _imports(path: Path, *, runtime_only: bool = False) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every absolute import, wherever it sits."""
    found: list[tuple[str, list[str], int]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _typing_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
    return found


def _top_level(path: Path) -> set[str]:
    return {module.split(".")[0] for module, _, _ in _imports(path)}


def _qbsync_targets(path: Path, *, runtime_only: bool = False) -> set[str]:
    """The qbsync modules a module imports (`from pkg import module` counts as the module)."""
    targets: set[str] = set()
    for module, names, _ in _imports(path, runtime_only=runtime_only):
        if not module.startswith("qbsync"):
            continue
        for name in names:
            if f"{module}.{name}" in MODULE_NAMES:
                targets.add(f"{module}.{name}")
                break
        else:
            targets.add(module)
    return targets


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_the_engine_list_is_not_empty() -> None:
    names = {_rel(p) for p in ENGINE}
    assert {"auth/tokens.py", "auth/oauth.py", "qbo/client.py", "state/db.py"} <= names


@pytest.mark.parametrize("path", ENGINE, ids=_rel)
def test_engine_module_imports_neither_click_nor_rich(path: Path) -> None:
    assert not _top_level(path) & set(CLI_ONLY), f"{path} imports a CLI library"


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_sqlite3_only_in_state(path: Path) -> None:
    if _rel(path).startswith("state/"):
        return
    assert "sqlite3" not in _top_level(path), f"{path} imports sqlite3 (SQL lives in state/)"


REQUESTS_ALLOWED = ("qbo/", "auth/", "sources/", "emulator/browser.py")


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_requests_only_in_the_http_doors(path: Path) -> None:
    if _rel(path).startswith(REQUESTS_ALLOWED):
        return
    assert not _top_level(path) & {"requests", "requests_oauthlib", "quickbooks"}, path


@pytest.mark.parametrize("path", [p for p in ENGINE if p.name != "__main__.py"], ids=_rel)
def test_nothing_outside_cli_imports_cli(path: Path) -> None:
    assert not any(t.startswith("qbsync.cli") for t in _qbsync_targets(path)), path


EMULATOR_FORBIDDEN = ("config", "auth", "qbo", "state", "sync", "sources", "cli")


@pytest.mark.parametrize("path", _modules(PACKAGE / "emulator"), ids=_rel)
def test_emulator_stands_alone(path: Path) -> None:
    bad = [
        t
        for t in _qbsync_targets(path)
        if t.split(".")[1:2] and t.split(".")[1] in EMULATOR_FORBIDDEN
    ]
    assert bad == [], f"{path} imports {bad}"


def test_no_import_cycle_between_modules() -> None:
    graph = {
        _name(p): {t for t in _qbsync_targets(p, runtime_only=True) if t in MODULE_NAMES}
        for p in ALL
    }
    # A package's __init__ importing its own submodules is not a cycle in the sense that matters.
    for name, targets in graph.items():
        targets.discard(name)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


@pytest.mark.parametrize("path", ALL, ids=_rel)
def test_no_private_name_imported_across_modules(path: Path) -> None:
    private = [
        f"{module}.{name}:{line}"
        for module, names, line in _imports(path)
        if module.startswith("qbsync")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == [], f"{path} imports private names {private}"


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
    [p for p in ALL if _rel(p) not in ("cli/main.py", "__main__.py")],
    ids=_rel,
)
def test_only_cli_main_maps_errors_to_exit_codes(path: Path) -> None:
    # Commands raise QbsyncError; cli/main.py prints it and exits with its code.
    if _rel(path).startswith("emulator/"):
        return  # the emulator's own `python -m` entry points end their processes themselves
    assert _exits(path) == [], f"{path} exits by itself"
