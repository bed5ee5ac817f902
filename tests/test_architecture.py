"""The layers of ARCHITECTURE.md, checked on the source: store → core → app → front ends, no import cycles.

Every `import` of a koodari module counts, at the top of a module or hidden inside a function.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "koodari"

# anything may import these; they import no other layer
BASE = {"koodari", "koodari.errors", "koodari.threads", "koodari.lazy"}
FRONT_ENDS = ("koodari.cli", "koodari.web", "koodari.review_tui", "koodari.spacy_component", "koodari.demo",
              "koodari.progress")
APP = ("koodari.app",)
STORE = ("koodari.store",)
# Every koodari module imports koodari at the top of the module only (the slow optional libraries, torch, stanza,
# spaCy's models and dask, load lazily: koodari.lazy for the scikit-learn-heavy core, koodari.nlp.loader for the
# NLP libraries).
TOP_IMPORTS_ONLY = ("koodari",)
# One edge of each import cycle that is allowed: none.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def in_layer(module: str, layer: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in layer)


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    for name, members in (("store", STORE), ("app", APP), ("front end", FRONT_ENDS)):
        if in_layer(module, members):
            return name
    return "core"


def inside_functions(tree: ast.Module) -> set[int]:
    """The ids of the nodes inside a function (an import there runs late, and hides a dependency)."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(node)}


def imports(module: str, source: str | None = None) -> list[tuple[str, int, bool]]:
    """(imported koodari module, line, at the module's top level) for each import in ``module``; a module bound
    through the lazy loader (``load("koodari.x")``) counts as imported."""
    path = MODULES[module]
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    hidden = inside_functions(tree)
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from koodari import app` imports the module koodari.app; `from koodari.x import y` imports x
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import koodari.nlp.pipeline.X` → the module that exists
                name = name.rpartition(".")[0]
            if name.startswith("koodari") and name != module:
                found.append((name, node.lineno, id(node) not in hidden))
    return found


def layer_violations(graph: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    allowed = {
        "base": {"base"},
        "store": {"base", "store"},
        "core": {"base", "store", "core"},
        "app": {"base", "store", "core", "app"},
        "front end": {"base", "store", "core", "app", "front end"},
    }
    problems = []
    for module, targets in graph.items():
        for target, line, _ in targets:
            if layer(target) not in allowed[layer(module)]:
                problems.append(f"{module}:{line} ({layer(module)}) imports {target} ({layer(target)})")
    return problems


def cycles(graph: dict[str, list[tuple[str, int, bool]]], known: set[tuple[str, str]]) -> list[str]:
    edges = {m: {t for t, _, _ in targets if (m, t) not in known} for m, targets in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        return [" → ".join(exc.args[1])]
    return []


def hidden_imports(graph: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    return [f"{m}:{line} imports {t} inside a function" for m, targets in graph.items()
            if in_layer(m, TOP_IMPORTS_ONLY) for t, line, top in targets if not top]


CORE_OBJECTS = {"FinnishPipeline", "Suggester", "ReviewSession", "ResolveSession", "Tree"}
STUDY_OPENERS = {"open", "create"}


def core_constructions(path: Path, source: str | None = None) -> list[str]:
    """Where ``path`` builds a core object itself (a pipeline, a suggester, a review session, a tree, a study)."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if name in CORE_OBJECTS or (owner == "Study" and name in STUDY_OPENERS):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {owner + '.' if owner else ''}{name}")
    return found


def front_end_files() -> list[Path]:
    return [p for m, p in MODULES.items() if layer(m) == "front end"] + sorted((ROOT / "bench").glob("*.py"))


# bench/lemma.py measures the NLP pipeline itself, configuration by configuration (old and new models, with and
# without each stage): each row needs a pipeline of its own (no shared lemma memo), so it builds them itself;
# bench/tokeniser.py likewise builds one with each tokeniser.
PIPELINE_BENCHMARKS = ("bench/lemma.py", "bench/tokeniser.py")


def test_front_ends_and_bench_leave_building_core_objects_to_the_app():
    problems = [problem for path in front_end_files() for problem in core_constructions(path)]
    assert [p for p in problems if not (p.split(":")[0] in PIPELINE_BENCHMARKS and p.endswith("FinnishPipeline"))] == []
    bad = "def f(path):\n    with Study.open(path) as s:\n        return Suggester(s, FinnishPipeline())\n"
    assert len(core_constructions(MODULES["koodari.cli"], bad)) == 3  # the check sees each of them


def test_one_pipeline_per_configuration():
    from koodari import app

    assert app.pipeline() is app.pipeline()
    assert app.pipeline(normalise=False) is app.pipeline(normalise=False) is not app.pipeline()


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int, bool]]]:
    return {module: imports(module) for module in MODULES}


def test_the_layers_are_known():
    assert "koodari.app" in MODULES and "koodari.cli" in MODULES
    assert {layer(m) for m in MODULES} == {"base", "store", "core", "app", "front end"}
    assert layer("koodari.web.workspace") == "front end" and layer("koodari.suggest") == "core"


def test_each_layer_imports_only_the_layers_below(graph):
    assert layer_violations(graph) == []


def test_no_import_cycles(graph):
    assert cycles(graph, KNOWN_CYCLE_EDGES) == []


def test_front_ends_and_the_app_import_koodari_at_the_top(graph):
    assert hidden_imports(graph) == []


@pytest.mark.parametrize(("module", "bad", "check"), [
    ("koodari.store", "from koodari.suggest import Tree", layer_violations),  # store reaching up into the core
    ("koodari.suggest", "from koodari.app import pipeline", layer_violations),  # core calling the app
    ("koodari.agreement", "import koodari.cli", layer_violations),  # core calling a front end
    ("koodari.app", "from koodari.web.workspace import Workspace", layer_violations),  # app calling a front end
    ("koodari.tree", "from koodari.reports import export_report", cycles),  # reports imports tree: a cycle
    ("koodari.cli", "def f():\n    from koodari.store import Study", hidden_imports),
    ("koodari.review", "x = load('koodari.web.app')", layer_violations),  # the lazy loader counts too
])
def test_a_broken_layer_is_caught(graph, module, bad, check):
    """Each check fails on one bad import added to an otherwise clean source tree."""
    source = MODULES[module].read_text(encoding="utf-8") + "\n" + bad + "\n"
    broken = {**graph, module: imports(module, source)}
    assert (check(graph, KNOWN_CYCLE_EDGES) if check is cycles else check(graph)) == []
    found = check(broken, KNOWN_CYCLE_EDGES) if check is cycles else check(broken)
    assert found and module in " ".join(found)
