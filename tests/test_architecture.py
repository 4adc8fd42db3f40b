"""The house's rules, checked on the source: no import cycles, arrows point down, Panel only in ui/.

The imports are read with :mod:`ast` (nothing is imported, so no side effects), at
every depth: a function-level ``import`` is a dependency too. The layer order is
the one written in ``docs/architecture.md``::

    base (errors, config, samples)  <  query  <  store  <  tracking
      <  registry, pipelines, training, monitoring, abtest, serving,
         validation, retraining, steps
      <  demo  <  ui  <  cli, apps, the ``workbench`` facade

A module may import its own package, any package of a lower layer, and (for the
domain layer) a peer of its own layer, as long as no cycle forms, neither between
modules nor between packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "workbench"
APPS = ROOT / "apps"

#: Layers from the bottom up; a name is the first component under ``workbench``.
LAYERS: list[set[str]] = [
    {"errors", "config", "samples"},
    {"query"},  # the filter language: the store compiles it, so it sits below the store
    {"store"},
    {"tracking"},
    {
        "registry", "pipelines", "training", "monitoring", "abtest", "serving",
        "validation", "retraining", "steps",
    },
    {"demo"},
    {"ui"},
    {"cli", "apps", "__init__"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}
#: Third-party packages that only ``ui`` (and the apps above it) may import.
UI_ONLY = {"panel", "holoviews", "bokeh"}
MAX_LINES = 600
#: Modules allowed over MAX_LINES: (the most lines they may have, why). They may shrink, not grow.
LONG_MODULES: dict[str, tuple[int, str]] = {}


def _module_name(path: Path) -> str:
    if path.is_relative_to(APPS):
        return "apps." + path.stem
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = sorted(PACKAGE.rglob("*.py")) + sorted(APPS.glob("*.py"))
    return {_module_name(p): p for p in files if "__pycache__" not in p.parts}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(workbench modules, third-party top-level names) that ``path`` imports, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if _is_package(path) else name.rpartition(".")[0]
    internal: set[str] = set()
    external: set[str] = set()

    def resolve(target: str) -> str | None:
        # The longest prefix of ``target`` that is a module of ours.
        parts = target.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in modules:
                return candidate
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "workbench":
                    found = resolve(alias.name)
                    if found:
                        internal.add(found)
                else:
                    external.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            top = source.split(".")[0]
            if top != "workbench":
                external.add(top)
                continue
            for alias in node.names:
                # ``from workbench.ui import compare`` names a module; otherwise the package.
                sub = f"{source}.{alias.name}"
                found = sub if sub in modules else resolve(source)
                if found:
                    internal.add(found)
    internal.discard(name)
    return internal, external


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    sources = _sources()
    modules = set(sources)
    internal, external = {}, {}
    for name, path in sources.items():
        internal[name], external[name] = _imports(name, path, modules)
    return internal, external


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each as a readable loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_loop(sorted(component), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _loop(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    # One concrete loop through the component's first node, found breadth-first.
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ()) & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return component


def _area(module: str) -> str:
    """The layer name of a module: ``workbench.store.handle`` -> ``store``."""
    parts = module.split(".")
    if parts[0] == "apps":
        return "apps"
    return parts[1] if len(parts) > 1 else "__init__"


def _format(loops: list[list[str]]) -> str:
    return "\n".join(" -> ".join(loop) for loop in loops)


def test_every_module_has_a_layer():
    internal, _ = _graph()
    unknown = sorted({_area(m) for m in internal} - set(LEVEL))
    assert not unknown, (
        f"packages with no layer in tests/test_architecture.py LAYERS: {unknown}; "
        "add them (and to docs/architecture.md)"
    )


def test_no_import_cycle_between_modules():
    internal, _ = _graph()
    loops = _cycles(internal)
    assert not loops, "import cycles between modules:\n" + _format(loops)


def test_no_import_cycle_between_packages():
    internal, _ = _graph()
    packages: dict[str, set[str]] = {}
    for module, targets in internal.items():
        area = _area(module)
        packages.setdefault(area, set()).update(_area(t) for t in targets if _area(t) != area)
    loops = _cycles(packages)
    assert not loops, "import cycles between packages:\n" + _format(loops)


def test_arrows_point_down():
    internal, _ = _graph()
    wrong = []
    for module, targets in sorted(internal.items()):
        area = _area(module)
        for target in sorted(targets):
            to = _area(target)
            if to != area and LEVEL.get(to, -1) > LEVEL.get(area, -1):
                wrong.append(f"{module} -> {target} ({area} is below {to})")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(wrong)


def test_only_ui_imports_panel_holoviews_bokeh():
    _, external = _graph()
    wrong = [
        f"{module} imports {sorted(names & UI_ONLY)}"
        for module, names in sorted(external.items())
        if names & UI_ONLY and LEVEL[_area(module)] < LEVEL["ui"]
    ]
    assert not wrong, "Panel/HoloViews/Bokeh outside workbench/ui:\n" + "\n".join(wrong)


def test_view_models_import_no_panel():
    # A view-model (ui/<screen>/model.py, ui/runs/*_model.py) is state and actions, testable
    # without a browser: neither it nor anything of ours it imports, at any depth, imports
    # Panel. (HoloViews elements are data a view-model may build; the view shows them.)
    internal, external = _graph()
    wrong = []
    for module in sorted(internal):
        if not (module.startswith("workbench.ui.") and module.endswith("model")):
            continue
        seen, todo = {module}, [module]
        while todo:
            current = todo.pop()
            if "panel" in external.get(current, ()):
                via = "" if current == module else f" (through {current})"
                wrong.append(f"{module} imports panel{via}")
            for target in internal.get(current, ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    assert not wrong, "view-models must not import Panel:\n" + "\n".join(wrong)


def test_no_module_over_600_lines():
    long = []
    for name, path in sorted(_sources().items()):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        cap = LONG_MODULES.get(name, (MAX_LINES, ""))[0]
        if lines > cap:
            long.append(f"{name}: {lines} lines" + (f" (allowed {cap})" if cap > MAX_LINES else ""))
    assert not long, f"modules over {MAX_LINES} lines (split them on their seams):\n" + "\n".join(long)


def test_the_checker_sees_a_cycle_and_an_upward_arrow():
    # The checks above can fail: a made-up graph with a loop and an arrow up is caught.
    graph = {
        "workbench.store.a": {"workbench.tracking.b"},
        "workbench.tracking.b": {"workbench.store.a"},
    }
    assert _cycles(graph) == [["workbench.store.a", "workbench.tracking.b", "workbench.store.a"]]
    assert LEVEL[_area("workbench.store.a")] < LEVEL[_area("workbench.tracking.b")]


def test_the_reader_finds_every_kind_of_import(tmp_path):
    # Absolute, relative, from-package-import-module, function-level and third-party imports.
    source = tmp_path / "view.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import panel as pn\n"
        "from workbench.store.store import Store\n"
        "from workbench.ui import compare\n"
        "from . import model\n"
        "from .plots import scatter\n"
        "def later():\n"
        "    import workbench.registry.gates\n"
        "    from holoviews import Curve\n"
    )
    modules = {
        "workbench.store.store", "workbench.ui", "workbench.ui.compare",
        "workbench.ui.compare.model", "workbench.ui.compare.plots", "workbench.ui.compare.view",
        "workbench.registry", "workbench.registry.gates",
    }
    internal, external = _imports("workbench.ui.compare.view", source, modules)
    assert internal == {
        "workbench.store.store", "workbench.ui.compare", "workbench.ui.compare.model",
        "workbench.ui.compare.plots", "workbench.registry.gates",
    }
    assert external == {"__future__", "panel", "holoviews"}
