"""Import layers read with `ast`: dependencies point one way, no circle, FiftyOne behind storage/."""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "evaluation", "storage")

# Which of our packages each package may import (itself included).
ALLOWED: dict[str, set[str]] = {
    "agent": {"agent", "tools", "evaluation", "storage"},
    "evaluation": {"evaluation", "storage", "tools"},
    "storage": {"storage", "tools"},
    "tools": {"tools"},
}
# Where `import fiftyone` may appear: the storage layer, and the App's side of the review.
FIFTYONE_HOMES = ("storage/", "agent/entry/plugins/")


@dataclass(frozen=True)
class Import:
    """One import statement of one of our modules."""

    importer: str  # dotted module name
    path: str  # file, relative to the repository root
    line: int
    target: str  # dotted name imported (a module, or a module's attribute)
    module_level: bool  # False inside a function: a deliberate lazy import
    type_checking: bool  # inside `if TYPE_CHECKING:`, never run


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = _sources()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of a (possibly relative) `from ... import`'s module."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    relative = str(path.relative_to(ROOT))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, in_type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(
                    Import(
                        name,
                        relative,
                        child.lineno,
                        alias.name,
                        not in_function,
                        in_type_checking,
                    )
                    for alias in child.names
                )
            elif isinstance(child, ast.ImportFrom):
                module = _resolve(name, is_package, child.level, child.module)
                for alias in child.names:
                    # `from agent import cli_loop` imports a module; `from x import f`, x itself.
                    submodule = f"{module}.{alias.name}"
                    target = submodule if submodule in MODULES else module
                    found.append(
                        Import(
                            name, relative, child.lineno, target, not in_function, in_type_checking
                        )
                    )
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, True, in_type_checking)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, in_function, True)
            else:
                visit(child, in_function, in_type_checking)

    visit(tree, False, False)
    return found


IMPORTS = [i for name, path in MODULES.items() for i in _imports_of(name, path)]


def _ours(target: str) -> str | None:
    top = target.split(".")[0]
    return top if top in PACKAGES else None


def test_the_sources_are_found() -> None:
    assert {"agent.entry.cli", "tools.convert", "evaluation.gate", "storage.datasets"} <= set(
        MODULES
    )
    assert any(i.target == "tools.convert" for i in IMPORTS)


def test_dependencies_point_one_way() -> None:
    wrong = [
        f"{i.path}:{i.line}: {i.importer} imports {i.target}"
        for i in IMPORTS
        if (theirs := _ours(i.target)) is not None
        and theirs not in ALLOWED[i.importer.split(".")[0]]
    ]
    assert wrong == [], "imports against the layers (agent > evaluation > storage > tools)"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(edges.get(node, ())):
            if after not in index:
                connect(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def _edges(imports: list[Import]) -> dict[str, dict[str, Import]]:
    """Which of our modules each module imports, with the first import that does it.

    Every import counts, at module level or not: a lazy import inside a function still runs,
    and one under TYPE_CHECKING still ties the two modules together for whoever reads them.
    Importing `a.b.c` also runs the packages `a.b` and `a`, so those are imported too.
    """
    edges: dict[str, dict[str, Import]] = {}
    for i in imports:
        parts = i.target.split(".")
        for target in (".".join(parts[:n]) for n in range(len(parts), 0, -1)):
            if target in MODULES and not f"{i.importer}.".startswith(f"{target}."):
                edges.setdefault(i.importer, {}).setdefault(target, i)
    return edges


def _circle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest walk from the component's first module back to itself, inside the component."""
    start, inside = component[0], set(component)
    came_from = {start: start}
    frontier = [start]
    while frontier:
        after: list[str] = []
        for node in frontier:
            for target in sorted(edges.get(node, ())):
                if target == start:
                    walk = [node]
                    while walk[-1] != start:
                        walk.append(came_from[walk[-1]])
                    return [*reversed(walk), start]
                if target in inside and target not in came_from:
                    came_from[target] = node
                    after.append(target)
        frontier = after
    raise AssertionError(f"{component} is not a circle")


def test_no_import_circle_between_modules() -> None:
    edges = _edges(IMPORTS)
    graph = {module: set(targets) for module, targets in edges.items()}
    found = []
    for component in _cycles(graph):
        circle = _circle(graph, component)
        steps = [edges[a][b] for a, b in itertools.pairwise(circle)]
        where = ", ".join(f"{i.path}:{i.line}" for i in steps)
        found.append(f"{' -> '.join(circle)} ({where})")
    assert found == [], "import circles (imports inside functions count):\n" + "\n".join(found)


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_circle_finder_names_the_circle() -> None:
    edges = {"a": {"b", "d"}, "b": {"c"}, "c": {"a"}, "d": {"c"}}
    (component,) = _cycles(edges)
    assert component == ["a", "b", "c", "d"]
    assert _circle(edges, component) == ["a", "b", "c", "a"]
    assert _circle({"a": {"a"}}, ["a"]) == ["a", "a"]


def test_a_lazy_import_and_a_parent_package_count_as_edges() -> None:
    # A package's own modules do not import it again: it is already running when they load.
    lazy = Import(
        "evaluation.metrics", "evaluation/metrics.py", 9, "storage.coco_sweep", False, True
    )
    inside = Import(
        "agent.steps.work", "agent/steps/work.py", 3, "agent.steps.batches", True, False
    )
    edges = _edges([lazy, inside])
    assert set(edges["evaluation.metrics"]) == {"storage.coco_sweep", "storage"}
    assert set(edges["agent.steps.work"]) == {"agent.steps.batches"}


# Inside agent/: the ways in drive the loop, the loop's steps know neither.
AGENT_ROLES = ("agent.entry", "agent.control", "agent.steps")
AGENT_ALLOWED: dict[str, set[str]] = {
    "agent.entry": {"agent.entry", "agent.control", "agent.steps", "agent"},
    "agent.control": {"agent.control", "agent.steps", "agent"},
    "agent.steps": {"agent.steps", "agent"},
    "agent": {"agent.steps", "agent"},  # the types (ports, ...) and builders (graph, ...)
}


def _agent_role(module: str) -> str | None:
    if not module.startswith("agent"):
        return None
    if module == "agent.__main__":  # `python -m agent`: a way in
        return "agent.entry"
    return next((r for r in AGENT_ROLES if module == r or module.startswith(r + ".")), "agent")


def test_inside_agent_entry_drives_control_drives_steps() -> None:
    wrong = [
        f"{i.path}:{i.line}: {i.importer} imports {i.target}"
        for i in IMPORTS
        if (mine := _agent_role(i.importer)) is not None
        and (theirs := _agent_role(i.target)) is not None
        and not i.type_checking
        and theirs not in AGENT_ALLOWED[mine]
    ]
    assert wrong == [], "agent/: entry -> control -> steps -> the loop's core, never back"


# The loop's types: what the steps and the ways in share. They import no step and nothing that
# builds or runs the loop, so that every step can import them without a circle.
AGENT_TYPES = ("agent.ports", "agent.state", "agent.results", "agent.settings")
AGENT_BUILDERS = ("agent.bootstrap", "agent.graph", "agent.nodes")


def test_the_ports_import_no_step_and_no_builder() -> None:
    assert set(AGENT_TYPES + AGENT_BUILDERS) <= set(MODULES)
    wrong = [
        f"{i.path}:{i.line}: {i.importer} imports {i.target}"
        for i in IMPORTS
        if i.importer in AGENT_TYPES
        and (_agent_role(i.target) not in (None, "agent") or i.target in AGENT_BUILDERS)
    ]
    assert wrong == []


def test_fiftyone_is_imported_only_behind_storage_and_in_the_app_plugin() -> None:
    outside = [
        f"{i.path}:{i.line}: {i.target}"
        for i in IMPORTS
        if i.target.split(".")[0] == "fiftyone" and not i.path.startswith(FIFTYONE_HOMES)
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import fiftyone as fo\n", ("fiftyone", True)),
        ("def f():\n    from tools import convert\n", ("tools.convert", False)),
        ("from . import gate\n", ("evaluation.gate", True)),
    ],
)
def test_imports_are_read_with_their_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: tuple[str, bool]
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / "evaluation" / "probe.py"
    path.parent.mkdir()
    path.write_text(source)
    (found,) = _imports_of("evaluation.probe", path)
    assert (found.target, found.module_level) == expected


# -- sizes ------------------------------------------------------------------------------------------
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # the whole def: decorators, signature, docstring and body


def _oversized(name: str, source: str) -> list[str]:
    """What in one module passes the limits: the module, or a function (methods and nested
    functions included), as 'module: N lines' or 'module.function: N lines'."""
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}.{node.name}: {length} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    oversized = [
        found
        for name, path in MODULES.items()
        for found in _oversized(name, path.read_text(encoding="utf-8"))
    ]
    assert oversized == [], "split these by meaning (../shared/STYLE.md, lesson 12)"


def test_the_size_check_finds_a_long_function_and_a_long_module() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    decorated = f"@decorator\ndef f():\n{body}\n"  # 61 lines with the decorator
    assert _oversized("m", decorated) == ["m.f: 61 lines"]
    assert _oversized("m", decorated.removeprefix("@decorator\n")) == []
    long_module = "\n".join(f"x{i} = {i}" for i in range(401))
    assert _oversized("m", long_module) == ["m: 401 lines"]
    nested = "class C:\n    def g(self):\n" + "\n".join(f"        y{i} = {i}" for i in range(60))
    assert _oversized("m", nested) == ["m.g: 61 lines"]
