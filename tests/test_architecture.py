"""The package's shape: dependencies flow one way, modules stay small, numpy-side modules stay TF-free.

The import graph is read from the source (nothing is imported), nested
imports included, ``if TYPE_CHECKING:`` blocks excluded.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tfadv"
MAX_LINES = 400
# Modules that must load without TensorFlow or Keras (numpy, matplotlib and the standard library only).
NUMPY_ONLY = (
    "tfadv.abstraction", "tfadv.analysis", "tfadv.artifacts", "tfadv.check", "tfadv.config", "tfadv.data",
    "tfadv.figures", "tfadv.idx", "tfadv.keys", "tfadv.paper", "tfadv.progress", "tfadv.report",
    "tfadv.sources", "tfadv.tables", "tfadv.engine", "tfadv.engine.results", "tfadv.engine.starts",
    "tfadv.engine.scheduler", "tfadv.engine.validate",
    "tfadv.papers.eyes.claims", "tfadv.papers.eyes.summary", "tfadv.papers.eyes.items",
    "tfadv.papers.dough.claims", "tfadv.papers.dough.summary", "tfadv.papers.dough.items",
    "tfadv.papers.dough.plan", "tfadv.papers.eyes.search", "tfadv.papers.eyes.readings", "tfadv.verdicts",
    "tfadv.engine.rules", "tfadv.outputs", "tfadv.frameworks", "tfadv.frameworks.plan",
    "tfadv.frameworks.agreement", "tfadv.frameworks.item",
)
# The entry points: the only modules that may import absl (STYLE.md: library code never reads FLAGS).
ENTRY_POINTS = {"tfadv.flags", "tfadv.reproduce", "tfadv.train", "tfadv.frameworks.__main__",
                "tfadv.frameworks.worker"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (resolved relative imports)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        targets = {owner(i) for i in _imports(name, path)}
        # A module importing its own parent package is not an edge (Python loads the parent first anyway).
        graph[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return graph


def _find_cycle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    assert "tfadv.pipeline" in graph and "tfadv.registry" in graph["tfadv.pipeline"]
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph))}"


def test_no_module_is_over_the_size_limit():
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert not {n: s for n, s in sizes.items() if s > MAX_LINES}


def test_only_entry_points_import_absl():
    users = {name for name, path in _modules().items() if any(i.split(".")[0] == "absl" for i in _imports(name, path))}
    assert users <= ENTRY_POINTS, users - ENTRY_POINTS


def test_the_engine_and_analyses_never_import_training_or_the_pipeline():
    graph = _graph()
    for name in [m for m in graph if m.startswith("tfadv.engine") or m in NUMPY_ONLY]:
        assert not graph[name] & {"tfadv.training", "tfadv.modelbank", "tfadv.pipeline", "tfadv.registry"}, name


def test_numpy_only_modules_load_without_tensorflow():
    assert set(NUMPY_ONLY) <= set(_modules())
    code = (f"import sys; import {', '.join(NUMPY_ONLY)}; "
            "bad = {'tensorflow', 'keras', 'jax', 'torch', 'absl'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_package_switches_nothing_on():
    """Determinism and log filters are the entry points' business (tfadv.flags.set_up), not imports'."""
    code = ("import logging, tfadv.registry, tfadv.pipeline, tfadv.engine.tensorflow; "
            "from tensorflow.python.framework import config; "
            "assert not config.is_op_determinism_enabled(); "
            "assert not logging.getLogger('tensorflow').filters, logging.getLogger('tensorflow').filters")
    subprocess.run([sys.executable, "-c", code], check=True)
