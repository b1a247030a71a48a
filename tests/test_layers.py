"""The package's import graph: no cycles between layers, and no import from a lower layer to a higher one.

Every ``import`` in every module counts, lazy ones inside functions included: a lazy import is still a
dependency. Layers (a module may import its own layer and those below it)::

    5  cli, demo, __main__                        what people type
    4  workspace, batch, webhooks, browse, plot   the faces stages run behind
    3  stages                                     one module per stage
    2  runner, progress                           the engine
    1  analysis, separation, spotify, download,   the work, knowing nothing of the engine
       events
    0  audio, mpeg, storage, catalog, config,     foundations
       errors, validate, retry, _version
"""

from __future__ import annotations

import ast
from pathlib import Path

import soundforge

ROOT = Path(soundforge.__file__).parent
LAYERS = {
    "cli": 5, "demo": 5, "__main__": 5, "__init__": 5,
    "workspace": 4, "batch": 4, "webhooks": 4, "browse": 4, "plot": 4,
    "stages": 3,
    "runner": 2, "progress": 2,
    "analysis": 1, "separation": 1, "spotify": 1, "download": 1, "events": 1,
    "audio": 0, "mpeg": 0, "storage": 0, "catalog": 0, "config": 0, "errors": 0, "_version": 0, "validate": 0,
    "retry": 0,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the soundforge modules ``path`` imports (anywhere in the file)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("soundforge"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "soundforge":  # from soundforge import audio: the submodules named
                found.update(f"{target}.{a.name}" for a in node.names)
            elif target.startswith("soundforge"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        area = _area(_module_name(path)) if path.name != "__init__.py" or path.parent != ROOT else "__init__"
        deps = {_area(t) for t in _imports(path)} - {area}
        graph.setdefault(area, set()).update(d for d in deps if d in LAYERS)
    return graph


def test_every_area_has_a_layer() -> None:
    assert set(_graph()) <= set(LAYERS), f"give these a layer: {sorted(set(_graph()) - set(LAYERS))}"


def test_no_import_goes_up_a_layer() -> None:
    upward = sorted(f"{area} (layer {LAYERS[area]}) imports {dep} (layer {LAYERS[dep]})"
                    for area, deps in _graph().items() for dep in deps if LAYERS[dep] > LAYERS[area])
    assert not upward, "\n".join(upward)


def test_no_import_cycle_between_areas() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_stages_use_the_engine_through_runner_spec_only() -> None:
    bad = sorted(f"{path.name} imports {t}" for path in (ROOT / "stages").glob("*.py") for t in _imports(path)
                 if t.startswith("soundforge.runner") and not t.startswith("soundforge.runner.spec"))
    assert not bad, "\n".join(bad)


def test_no_cycle_inside_progress() -> None:
    events = _imports(ROOT / "progress" / "events.py")
    assert not any(t.startswith(("soundforge.progress.widget", "soundforge.progress.text")) for t in events)
