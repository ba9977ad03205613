"""Imports run downward only (issue 12): the lstmjax module graph is acyclic, and no
function imports an lstmjax module (the trick that hides a cycle).

The graph is read with ``ast`` from every module under ``lstmjax/`` (``lstmjax/tasks``
included): module-level and function-level ``import``/``from ... import`` of lstmjax
modules, relative imports resolved. A function may import a heavy *third-party* module on
demand (matplotlib, tensorflow_datasets, tqdm, absl, ...), never an lstmjax one.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lstmjax"

# Function-level imports of lstmjax modules in files owned by other work in progress, to be
# removed there; each entry is "module:function -> imported module". Empty when done.
PENDING = set()

# The layers of the core, bottom first: a module may import only from layers below it.
LAYERS = [
    {"lstmjax.gates", "lstmjax.native.build", "lstmjax.transfer"},
    {"lstmjax.cells"},
    {"lstmjax.recurrence"},
    {"lstmjax.fused_scan", "lstmjax.min_rnn", "lstmjax.cudnn", "lstmjax.native.driver"},
    {"lstmjax.native"},
    {"lstmjax.dispatch"},
    {"lstmjax.api"},
    {"lstmjax.models", "lstmjax.interop", "lstmjax.nnx"},
]


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, pathlib.Path()).name == "__init__.py"


def _targets(node: ast.AST, module: str) -> list[str]:
    """The lstmjax modules an import statement loads (submodule if it exists, else the
    package whose ``__init__`` defines the name)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "lstmjax"]
    if node.level:  # relative: from . import x / from .spec import y
        base = module if _is_package(module) else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            base = base.rsplit(".", 1)[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source.split(".")[0] != "lstmjax":
        return []
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
            for a in node.names]


def _imports(module: str):
    """(module-level targets, [(function, target)]) of one module."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    top, nested = set(), []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, getattr(child, "name", "<lambda>") if function is None
                      else f"{function}.{getattr(child, 'name', '<lambda>')}")
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child, module):
                    (top.add(target) if function is None else nested.append((function, target)))
            else:
                visit(child, function)

    visit(tree, None)
    return top, nested


GRAPH = {}
NESTED = {}
for _name in MODULES:
    _top, _nested = _imports(_name)
    GRAPH[_name] = _top | {t for _, t in _nested}
    NESTED[_name] = _nested


def _cycle(graph):
    """One cycle as a list of modules, or None (iterative DFS, three colours)."""
    state, stack = {}, []
    for start in sorted(graph):
        if state.get(start):
            continue
        todo = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        stack.append(start)
        while todo:
            node, children = todo[-1]
            child = next(children, None)
            if child is None:
                todo.pop()
                stack.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            elif not state.get(child) and child in graph:
                state[child] = 1
                stack.append(child)
                todo.append((child, iter(sorted(graph[child]))))
    return None


def test_every_module_is_read():
    assert {"lstmjax", "lstmjax.api", "lstmjax.dispatch", "lstmjax.tasks",
            "lstmjax.tasks.spec"} <= set(MODULES)
    assert GRAPH["lstmjax.api"] >= {"lstmjax.dispatch", "lstmjax.cells"}


def test_import_graph_is_acyclic():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_function_imports_an_lstmjax_module():
    found = {f"{m}:{fn} -> {t}" for m, nested in NESTED.items() for fn, t in nested}
    assert found - PENDING == set(), "function-level lstmjax imports: " + ", ".join(
        sorted(found - PENDING))
    assert PENDING - found == set(), f"PENDING entries already fixed: {sorted(PENDING - found)}"


def test_the_core_imports_only_downward():
    layer_of = {m: k for k, layer in enumerate(LAYERS) for m in layer}
    for module, level in layer_of.items():
        for target in GRAPH[module]:
            assert target in layer_of, f"{module} imports {target}, outside the core"
            assert layer_of[target] < level, f"{module} imports {target}, which is not below it"


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
