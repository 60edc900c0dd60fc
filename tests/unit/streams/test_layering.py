"""``alstream/streams/`` is the Kafka plumbing every layer stands on, so it imports nothing above it: no
agent, no SDK, not the settings root (it takes the narrow ``[kafka]`` / ``[codec]`` settings it needs).

Beside itself it may use the leaves every package shares: the root exception, the settings base model
and the shared Prometheus metric definitions; those leaves in turn import nothing but each other.
Every import statement is read, at any depth (function-local and ``TYPE_CHECKING`` imports included),
so a lazy import cannot slip a dependency past the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import alstream

PACKAGE = Path(alstream.__file__).parent
STREAMS = PACKAGE / "streams"
# The shared leaves streams/ may use from the rest of alstream (`alstream` itself: its __version__).
LEAVES = ("alstream", "alstream.exceptions", "alstream.config_base", "alstream.observability.metrics")
ALLOWED = ("alstream.streams", *LEAVES)


def alstream_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import of an ``alstream`` module in ``source``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "alstream":  # `from alstream import settings` names the module in the alias
                found += [
                    (node.lineno, "alstream" if alias.name.startswith("__") else f"alstream.{alias.name}")
                    for alias in node.names
                ]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return [(line, name) for line, name in found if name.startswith(("alstream", "."))]


def allowed(module: str) -> bool:
    if module in LEAVES:
        return True
    return module == "alstream.streams" or module.startswith("alstream.streams.")


def leaf_path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else (PACKAGE / relative).with_suffix(".py")


@pytest.mark.parametrize("path", sorted(STREAMS.rglob("*.py")), ids=lambda p: p.name)
def test_streams_imports_only_itself_and_the_root_exceptions(path: Path) -> None:
    offending = [
        f"{path.name}:{line} imports {module}"
        for line, module in alstream_imports(path.read_text())
        if module.startswith(".") or not allowed(module)
    ]
    assert not offending, "streams/ must not depend on the layers above it:\n" + "\n".join(offending)


@pytest.mark.parametrize("module", [leaf for leaf in LEAVES if leaf != "alstream"])
def test_the_shared_leaves_import_nothing_above_them(module: str) -> None:
    offending = [
        f"{module}:{line} imports {imported}"
        for line, imported in alstream_imports(leaf_path(module).read_text())
        if imported.startswith(".") or imported not in LEAVES
    ]
    assert not offending, "a leaf streams/ uses must stay a leaf:\n" + "\n".join(offending)


def test_the_package_root_imports_nothing_of_alstream() -> None:
    assert alstream_imports((PACKAGE / "__init__.py").read_text()) == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from alstream.agents.labels import processor", "alstream.agents.labels"),
        ("def f():\n    from alstream.settings import load_settings", "alstream.settings"),
        ("from alstream import settings", "alstream.settings"),
        ("import alstream.ingest.producer", "alstream.ingest.producer"),
        ("if TYPE_CHECKING:\n    from alstream.annotation.client import X", "alstream.annotation.client"),
    ],
)
def test_the_walk_finds_imports_at_any_depth(source: str, bad: str) -> None:
    modules = [module for _, module in alstream_imports(source)]
    assert modules == [bad]
    assert not allowed(bad)


def test_the_rule_lets_streams_use_itself_and_the_shared_leaves_only() -> None:
    assert allowed("alstream.streams.reading")
    assert allowed("alstream.exceptions")
    assert allowed("alstream.observability.metrics")
    assert not allowed("alstream.observability.status")
    assert not allowed("alstream.streamsx")
