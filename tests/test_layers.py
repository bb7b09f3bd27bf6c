"""The house without loops (DESIGN.md, "Layers"): imports go down the layers, never round.

Every import statement in ``src/sparktf`` counts, wherever it stands: at module level, inside a
function (it runs, up the layers, when the function does) and under ``if TYPE_CHECKING:`` (the
module still knows the one it names). Both rules use them all: a lower layer names no higher
one, and no modules import each other round in a circle. What does not count: the parent
packages Python imports on the way to a module, and ``importlib`` calls with a name in a string
(the package's lazy public names).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sparktf

SRC = Path(sparktf.__file__).parent
ROOT = "sparktf"

# Top to bottom; a module may import the layers below its own. DESIGN.md draws all but the
# last rows; ``cluster`` (``sparktf cluster``) stands with the verbs it serves, ``connect`` (a
# local Spark Connect server) and ``pyspark_compat`` with ``spark``, and the helpers of the
# last two rows are used by every layer. ``search`` is pure Python that the dispatcher drives,
# so it stands below ``execution``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("commands",),
    (ROOT,),  # the package's own __init__: sparktf.tune, sparktf.predict, ... (lazily)
    ("tuning", "inference", "report", "ml", "cluster"),
    ("tracking",),
    ("execution",),
    ("search",),
    ("keras",),
    ("datasets",),
    ("imaging",),
    ("trial",),
    ("connect",),
    ("spark",),
    ("pyspark_compat",),
    ("console", "signals", "rundir", "fileio", "version"),
    ("errors",),
)
# Names of one layer know each other only where said here (and never round).
PEERS = {
    ("ml", "inference"): "ImagePredictor is prediction as a Spark ML transformer",
    ("tuning", "report"): "a study writes its report when it ends",
}
# Cycles that other work removes; each must still exist (drop it here once it is gone).
KNOWN_CYCLES: dict[frozenset[str], str] = {}


@dataclass(frozen=True)
class Import:
    """One module naming another: ``source`` at ``line`` imports ``target``."""

    source: str
    target: str
    line: int


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = [ROOT, *path.relative_to(SRC).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` is, or is in (``pkg.mod.attr`` -> ``pkg.mod``); None: not ours."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    """What an import statement names, as dotted names (relative ones resolved)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        up = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*up, *([node.module] if node.module else [])])
    yield from (f"{base}.{alias.name}" for alias in node.names)


def imports() -> list[Import]:
    """Every import of one of the package's modules by another, wherever it stands."""
    known = modules()
    out = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, package):
                owner = _owner(target, known)
                if owner is not None and owner != name:
                    out.append(Import(name, owner, node.lineno))
    return out


def top(module: str) -> str:
    """The layer name of a module: ``sparktf.tuning.api`` -> ``tuning``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def layer(module: str) -> int:
    """The row of LAYERS that holds ``module`` (0 is the top)."""
    return next(i for i, row in enumerate(LAYERS) if top(module) in row)


def goes_up(imp: Import) -> bool:
    """True when ``imp`` names a higher layer, or a peer it may not know."""
    a, b = top(imp.source), top(imp.target)
    if a == b:
        return False
    if layer(imp.source) == layer(imp.target):
        return (a, b) not in PEERS
    return layer(imp.target) < layer(imp.source)


def cycles(edges: list[Import]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    edges = {(e.source, e.target) for e in imports()}
    assert ("sparktf.cli", "sparktf.commands") in edges  # inside a function
    assert ("sparktf.tuning.api", "sparktf.search.study") in edges  # at module level
    assert len(modules()) > 100


def test_every_top_level_name_has_a_layer() -> None:
    placed = {name for row in LAYERS for name in row}
    assert {top(m) for m in modules()} <= placed
    assert {name for pair in PEERS for name in pair} <= placed


def test_imports_go_down_the_layers() -> None:
    up = sorted(
        {
            f"{e.source}:{e.line} imports {e.target} ({top(e.source)} is below {top(e.target)})"
            for e in imports()
            if goes_up(e)
        }
    )
    assert not up, "imports that run back up the layers:\n" + "\n".join(up)


def test_no_modules_import_each_other_round() -> None:
    found = cycles(imports())
    loops = [" <-> ".join(sorted(c)) for c in found if c not in KNOWN_CYCLES]
    assert not loops, "import cycles:\n" + "\n".join(loops)
    gone = [why for c, why in KNOWN_CYCLES.items() if c not in found]
    assert not gone, f"no longer a cycle, drop it from KNOWN_CYCLES: {gone}"
