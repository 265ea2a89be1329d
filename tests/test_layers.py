"""The architecture, checked: which layer of cnnexplain may import which (every import, including the
ones inside functions), and no import cycles between modules.

- utilities (seeding, device, progress, train, compat, claims, cache): only utilities;
- methods: utilities and methods — never data, models, papers or notebook plumbing;
- models, data: utilities, methods, models, data;
- papers: anything but the batch runner and report; only papers import papers;
- notebook: utilities and notebook — no method, no paper.
"""

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
UTILITIES = {"cnnexplain", "cnnexplain.seeding", "cnnexplain.device", "cnnexplain.progress", "cnnexplain.train",
             "cnnexplain.compat", "cnnexplain.claims", "cnnexplain.cache"}
ALLOWED = {
    "utility": {"utility"},
    "methods": {"utility", "methods"},
    "models": {"utility", "methods", "models", "data"},
    "data": {"utility", "methods", "models", "data"},
    "papers": {"utility", "methods", "models", "data", "papers", "notebook"},
    "notebook": {"utility", "notebook"},
}
PAPERS_MAY_NOT = {"cnnexplain.notebook.reproduce", "cnnexplain.notebook.report"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    if module in UTILITIES:
        return "utility"
    return module.split(".")[1]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cnnexplain")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnexplain"):
            for alias in node.names:  # `from cnnexplain.papers.aamir import study` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (LIB / Path(*candidate.split("."))).with_suffix(".py").exists()
                          or (LIB / Path(*candidate.split(".")) / "__init__.py").exists() else node.module)
    return found


MODULES = {module_name(p): imports_of(p) for p in sorted((LIB / "cnnexplain").rglob("*.py"))}


def test_every_module_belongs_to_a_layer():
    assert {layer(m) for m in MODULES} <= set(ALLOWED)


def test_import_directions():
    wrong = []
    for module, imported in MODULES.items():
        if module == "cnnexplain":  # the package's public API re-exports from every layer
            continue
        for target in imported:
            if target == "cnnexplain":
                wrong.append(f"{module} imports the package root (import the module it needs)")
            elif layer(target) not in ALLOWED[layer(module)]:
                wrong.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
            elif layer(module) == "papers" and target in PAPERS_MAY_NOT:
                wrong.append(f"{module} imports the batch plumbing {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = {m: {t for t in imported if t in MODULES and t != m and not m.startswith(t + ".")}
             for m, imported in MODULES.items() if m != "cnnexplain"}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(nxt_ := node, ())):
            if nxt == "cnnexplain":
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else f"{node}->{nxt}")
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)
