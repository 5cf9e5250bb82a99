"""The engine stands on its own: no import cycle runs through it, counting imports inside functions."""
import ast
import os

import minigrad

ROOT = os.path.dirname(minigrad.__file__)
ENGINE = "minigrad.autograd.engine"


def _module_name(path):
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _import_graph():
    """{module: set of minigrad modules it imports}, from every import statement, at any depth.

    A package's ``__init__`` that Python runs on the way to a submodule is not counted: every module
    would otherwise depend on ``minigrad/__init__.py``."""
    modules = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                modules[_module_name(path)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                for a in node.names:  # from . import engine: a module; from .engine import Op: a name
                    if f"{target}.{a.name}" in modules:
                        deps.add(f"{target}.{a.name}")
                    elif target in modules:
                        deps.add(target)
        graph[name] = deps - {name}
    return graph


def _closure(graph, start):
    seen, stack = set(), list(graph[start])
    while stack:
        m = stack.pop()
        if m not in seen:
            seen.add(m)
            stack.extend(graph.get(m, ()))
    return seen


def test_the_graph_sees_imports_inside_functions():
    graph = _import_graph()
    assert ENGINE in graph["minigrad.autograd.grads"]
    assert "minigrad.autograd.tensor_data" in graph[ENGINE]
    assert ENGINE in graph["minigrad.creation"]
    # reduce.py imports pointwise only inside functions: the graph still has the edge
    assert "minigrad.ops.pointwise" in graph["minigrad.ops.reduce"]


def test_no_import_cycle_through_the_engine():
    graph = _import_graph()
    closure = _closure(graph, ENGINE)
    assert ENGINE not in closure, "the engine imports something that imports the engine back"
    # the engine needs only its own small modules and the backend: not the ops, not creation
    assert closure <= {"minigrad._backend", "minigrad.autograd.grad_mode", "minigrad.autograd.tape",
                       "minigrad.autograd.tensor_data", "minigrad.autograd.hooks", "minigrad.autograd.errors"}, closure


def test_engine_and_its_loop_stay_short():
    import inspect

    from minigrad.autograd import engine

    assert len(inspect.getsource(engine).splitlines()) <= 400
    assert len(inspect.getsource(engine.run_backward).splitlines()) <= 60
