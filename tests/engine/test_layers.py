"""The engine's modules import only downward: parse -> plan -> operators -> runtime.

Layers, lowest first: the syntax tree; the parser and expression compiler; the plans and
rows (plain data both the planner and the runtime use); the operators (windows, aggregates,
ordering, patterns, match_recognize); the planner (compiler) and the runtime, which never
import each other; the faces (package, harness, detector). Every import counts, including
ones inside functions and under TYPE_CHECKING: a lazy import is still a cycle in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flowcep_plugin.engine as engine

LAYERS = {
    "ast": 0,
    "parser": 1, "expressions": 1, "vectorwhere": 1,
    "plan": 2, "rows": 2, "gcdefer": 2,
    "windows": 3, "aggregates": 3, "ordering": 3, "patterns": 3, "match_recognize": 3, "intersect": 3,
    "namedwindows": 3, "contexts": 3, "joins": 3, "subqueries": 3, "typed": 3,
    "compiler": 4, "runtime": 4,
    "harness": 5, "detector": 5, "__init__": 5,
}
# operators may use each other's data structures
SAME_LAYER_OK = {("expressions", "vectorwhere"), ("ordering", "windows"), ("patterns", "windows"), ("match_recognize", "windows"),
                 ("match_recognize", "patterns"), ("namedwindows", "windows"), ("contexts", "windows"),
                 ("subqueries", "windows"), ("subqueries", "aggregates"),
                 ("intersect", "windows"), ("typed", "windows")}
PENDING: set[tuple[str, str]] = set()

ENGINE = Path(engine.__file__).parent


def engine_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.startswith("flowcep_plugin.engine."):
            out.add(node.module.split(".")[2])
    return out


def test_every_engine_module_has_a_layer() -> None:
    modules = {p.stem for p in ENGINE.glob("*.py")}
    assert modules <= set(LAYERS), f"give these modules a layer: {sorted(modules - set(LAYERS))}"


def test_imports_point_down() -> None:
    wrong = []
    for path in sorted(ENGINE.glob("*.py")):
        me = path.stem
        for other in engine_imports(path):
            if other not in LAYERS or (me, other) in PENDING:
                continue
            if LAYERS[other] > LAYERS[me] or (LAYERS[other] == LAYERS[me] and (me, other) not in SAME_LAYER_OK):
                wrong.append(f"{me} (layer {LAYERS[me]}) imports {other} (layer {LAYERS[other]})")
    assert not wrong, "\n".join(wrong)


def test_compiler_and_runtime_are_independent() -> None:
    assert "runtime" not in engine_imports(ENGINE / "compiler.py")
    assert "compiler" not in engine_imports(ENGINE / "runtime.py")


def test_module_runtime_still_works_through_the_registered_factory() -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.engine.harness import flows

    rt = compile_module("@Name('s') select count(*) as n from Flow").runtime()
    assert [r.values["n"] for r in rt.on_batch(flows((0, {}), (1, {})))] == [1, 2]
