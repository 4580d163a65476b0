"""The export machinery is the engine's: it imports no other app of the
project (the lists' apps give it their catalogues), and no module of it
imports one above it in the package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS_ABOVE = ("accounts", "billing", "communications", "demo", "collections_app", "bench")
# Inside the package, each module imports only those before it here.
ORDER = ["cells", "columns", "copy", "files", "templates", "forms", "action", "downloads", "views"]


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def export_modules() -> list[Path]:
    return [
        *sorted((ROOT / "bulkops" / "exports").glob("*.py")),
        ROOT / "bulkops" / "templatetags" / "bulkops_exports.py",
    ]


def test_the_export_machinery_imports_no_other_app():
    for path in export_modules():
        above = {m for m in imports_of(path) if m.split(".")[0] in APPS_ABOVE}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


def test_the_export_modules_import_downwards_only():
    assert sorted(ORDER) == sorted(p.stem for p in export_modules() if p.stem in ORDER)
    for index, name in enumerate(ORDER):
        imported = {
            m.removeprefix("bulkops.exports.").split(".")[0]
            for m in imports_of(ROOT / "bulkops" / "exports" / f"{name}.py")
            if m.startswith("bulkops.exports.")
        }
        assert imported <= set(ORDER[:index]), (
            f"{name} imports {sorted(imported - set(ORDER[:index]))}"
        )
