"""The sync app's modules stand in layers, and none imports one above it: the four-file
circle services <-> autosync <-> selectors <-> tasks is gone and must not come back.

Every import counts, at module level or inside a function (a lazy import is still a
dependency; it only hides the circle from the interpreter). The one exception is the queue
seam: ``sync.common`` names the tasks inside ``job_enqueue`` and ``copies_enqueue`` only.
The same rules as an import-linter contract in pyproject.toml (run by `make lint` and scripts/test).
"""

from __future__ import annotations

import ast
from pathlib import Path

import strongroom.sync

SYNC = Path(strongroom.sync.__file__).parent

# Top first. Modules in one layer must not import each other either.
LAYERS: list[set[str]] = [
    {"urls", "apps"},
    {"api", "views", "tasks", "hooks", "templatetags.sync_menu"},
    {"forms"},
    {"services"},
    {"copies"},
    {"selectors"},
    {"common"},
    {"keys"},
    {"models"},
]
# (importer, imported, enclosing function): the one enqueue seam.
SEAM = {
    ("common", "tasks", "job_enqueue"),
    ("common", "tasks", "copies_enqueue"),
}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SYNC).with_suffix("").parts)


def _sync_imports(path: Path) -> list[tuple[str, str | None]]:
    """(sync module imported, enclosing function or None) for every import in the file."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name if function is None else function
            if isinstance(child, ast.ImportFrom) and child.module:
                if child.module == "strongroom.sync":
                    found.extend((alias.name, inner) for alias in child.names)
                elif child.module.startswith("strongroom.sync."):
                    found.append((child.module.removeprefix("strongroom.sync."), inner))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("strongroom.sync."):
                        found.append((alias.name.removeprefix("strongroom.sync."), inner))
            visit(child, inner)

    visit(tree, None)
    return found


def _layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    raise AssertionError(f"sync.{module} is in no layer: add it to LAYERS (and the contract)")


def _modules() -> list[Path]:
    return sorted(
        path
        for path in SYNC.rglob("*.py")
        if "migrations" not in path.parts and path.name != "__init__.py"
    )


def test_every_sync_module_has_a_layer():
    for path in _modules():
        _layer_of(_module_name(path))


def test_no_sync_module_imports_its_own_layer_or_one_above():
    wrong = []
    for path in _modules():
        importer = _module_name(path)
        for imported, function in _sync_imports(path):
            if imported.startswith("migrations"):
                continue
            if (importer, imported, function) in SEAM:
                continue
            if _layer_of(imported) <= _layer_of(importer) and imported != importer:
                wrong.append(f"sync.{importer} imports sync.{imported} (in {function or 'module'})")
    assert wrong == []


def test_the_queue_seam_is_lazy_and_the_only_way_down_to_the_tasks():
    """Below the tasks layer only ``common`` names ``sync.tasks``, and only inside its two
    enqueue functions (a module-level import there would be the circle again)."""
    importers = {
        (_module_name(path), function)
        for path in _modules()
        for imported, function in _sync_imports(path)
        if imported == "tasks" and _layer_of(_module_name(path)) > _layer_of("tasks")
    }
    assert importers == {("common", "job_enqueue"), ("common", "copies_enqueue")}


def test_the_check_sees_a_wrong_import(tmp_path):
    """The checker is not blind: a selectors module that imports the services is caught."""
    bad = tmp_path / "selectors.py"
    bad.write_text(
        "from strongroom.sync import services\n"
        "def f():\n    from strongroom.sync.copies import sync_copy_claim\n"
    )
    assert _sync_imports(bad) == [("services", None), ("copies", "f")]
    assert all(_layer_of(imported) < _layer_of("selectors") for imported, _ in _sync_imports(bad))
