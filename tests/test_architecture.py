"""The package's layers, read from its source: imports point down the layers, and nothing imports in a circle.

Layers, lowest first (docs/architecture.md): the base modules, data/, models/, query/, show/, then web/
and cli/. An import inside a function is allowed only for a heavy dependency (PyTorch, numba, plotting,
the web server ...) or an embedrec module that itself imports one at its top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "embedrec"
LAYERS = {"base": 0, "data": 1, "models": 2, "query": 3, "show": 4, "web": 5, "cli": 6, "__main__": 7}
HEAVY = {
    "torch", "numba", "matplotlib", "umap", "openTSNE", "sklearn", "faiss", "gensim", "fastapi", "uvicorn",
    "safetensors", "pyarrow", "lightgbm", "fasttext",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], LAYERS["base"]) if len(parts) > 1 else LAYERS["base"]


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at top level?) for every import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `try: import fcntl / except ImportError:` (a platform's module) is top level
        if isinstance(node, ast.Try):
            top |= {id(inner) for inner in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "embedrec":  # `from embedrec import x`: the lazily exported names
                found += [("embedrec", id(node) in top)]
            else:
                found.append((node.module, id(node) in top))
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def internal(target: str) -> str | None:
    """The embedrec module an import refers to (a package import maps to its __init__)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target if target.startswith("embedrec") and target in MODULES else None


def imports_heavy_at_top(module: str, seen: frozenset[str] = frozenset()) -> bool:
    for target, at_top in GRAPH[module]:
        if not at_top:
            continue
        if target.split(".")[0] in HEAVY:
            return True
        inner = internal(target)
        if inner and inner not in seen and imports_heavy_at_top(inner, seen | {module}):
            return True
    return False


def test_imports_point_down_the_layers() -> None:
    upward = []
    for name, found in GRAPH.items():
        for target, _ in found:
            inner = internal(target)
            if inner and inner != "embedrec" and layer(inner) > layer(name):
                upward.append(f"{name} imports {inner}")
    assert not upward, upward


def test_no_import_cycles() -> None:
    edges = {
        name: {internal(t) for t, _ in found} - {None, name, "embedrec"} for name, found in GRAPH.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_imports_inside_functions_are_only_for_heavy_dependencies() -> None:
    light = []
    for name, found in GRAPH.items():
        for target, at_top in found:
            if at_top or target.split(".")[0] in HEAVY:
                continue
            inner = internal(target)
            if inner is None:
                if target.split(".")[0] not in HEAVY:
                    light.append(f"{name}: {target}")
            elif not imports_heavy_at_top(inner):
                light.append(f"{name}: {inner}")
    assert not light, light


@pytest.mark.parametrize("argv", [None, ["--help"], ["--version"]])
def test_light_entry_points(argv: list[str] | None) -> None:
    """`import embedrec`, `embedrec --help` and `--version` import no heavy library, not even numpy."""
    import subprocess
    import sys

    run = "" if argv is None else f"sys.argv = ['embedrec', *{argv!r}]\ntry: app()\nexcept SystemExit: pass\n"
    code = (
        "import sys, embedrec\nfrom embedrec.cli.main import app\n" + run
        + f"print(sorted(m for m in {sorted(HEAVY | {'numpy', 'pandas'})!r} if m in sys.modules))"
    )  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_version_answers_before_the_command_tree_loads() -> None:
    """`embedrec --version` prints the installed version without importing typer or rich (its start-up)."""
    import subprocess
    import sys
    from importlib.metadata import version

    code = (
        "import sys\nsys.argv = ['embedrec', '--version']\nfrom embedrec.cli import main\nmain()\n"
        "print(sorted(m for m in ('typer', 'rich', 'click', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"embedrec {version('embedrec')}", "[]"]
