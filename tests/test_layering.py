"""The layering, read from every module's imports (its AST): neither bridge imports the other, and
csms/ imports no bridge module except csms/app.py, where the application is wired together."""

from __future__ import annotations

import ast

import pytest

from tests.support import ROOT

WIRING = {"csms/app.py"}
# (package whose modules are checked, prefix none of them may import)
RULES = [("bridge/oicp", "bridge.ocpi"), ("bridge/ocpi", "bridge.oicp"), ("csms", "bridge")]


def imported(source: str) -> set[str]:
    """Every module a source imports, at the top or inside a function, TYPE_CHECKING included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(package: str, forbidden: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in WIRING:
            continue
        for module in sorted(imported(path.read_text())):
            if module == forbidden or module.startswith(forbidden + "."):
                found.append(f"{name} imports {module}")
    return found


@pytest.mark.parametrize(("package", "forbidden"), RULES)
def test_no_import_across_the_layers(package: str, forbidden: str) -> None:
    assert violations(package, forbidden) == []


@pytest.mark.parametrize(("source", "caught"), [
    ("from bridge.ocpi.publishing.places import readings", True),
    ("import bridge.ocpi.tariffs", True),
    ("def f():\n    from bridge.ocpi import partners", True),  # a lazy import counts too
    ("from bridge import outbox", False),  # bridge/ itself, shared by both bridges
    ("from bridge.ocpix import x", False),
    ("from csms.domain.billing.cost import costing", False),
])
def test_the_check_sees_imports(source: str, caught: bool) -> None:
    assert any(m == "bridge.ocpi" or m.startswith("bridge.ocpi.") for m in imported(source)) is caught
