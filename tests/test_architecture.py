"""The layout the README draws: modules import one way (no cycles, lazy imports included) and stay small."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import spasmqa
from tests.conftest import REPO

PACKAGE = REPO / "spasmqa"
MAX_LINES = 440


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def spasmqa_imports(path: Path, modules: set[str]) -> set[str]:
    """Every spasmqa module ``path`` imports when it runs, at the top or inside a function."""
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "spasmqa":
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= (named & modules) or {node.module}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): spasmqa_imports(path, modules) - {module_name(path)} for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        trail.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return trail[trail.index(child) :] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        state[node] = "done"
        trail.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_module_imports_back_up_the_graph() -> None:
    graph = import_graph()
    assert "spasmqa.store.directory" in graph and "spasmqa.evaluation.run" in graph  # the graph is the real tree
    assert find_cycle(graph) == [], " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_lazy_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_only_the_api_assembles_an_index() -> None:
    # Index(stored, embedder, documents, reranker) is built in one place, so every index is built alike
    callers = [module_name(p) for p in PACKAGE.rglob("*.py") if "Index(stored" in p.read_text(encoding="utf-8")]
    assert callers == ["spasmqa.api"]


def test_every_module_is_short() -> None:
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_faiss_is_imported_only_behind_the_vector_interface() -> None:
    users = [module_name(p) for p in PACKAGE.rglob("*.py") if "import faiss" in p.read_text(encoding="utf-8")]
    assert users == ["spasmqa.store.vectors"]


def test_pymilvus_is_imported_only_by_the_milvus_client_and_writer() -> None:
    users = [module_name(p) for p in PACKAGE.rglob("*.py")
             if any(f"{word} pymilvus" in p.read_text(encoding="utf-8") for word in ("import", "from"))]
    assert sorted(users) == ["spasmqa.store.milvus_client", "spasmqa.store.milvus_write"]


def test_the_web_framework_is_imported_only_by_the_server() -> None:
    users = {module_name(p) for p in PACKAGE.rglob("*.py")
             if any(f"{word} {name}" in p.read_text(encoding="utf-8")
                    for word in ("import", "from") for name in ("fastapi", "starlette", "uvicorn"))}
    assert users == {"spasmqa.server.app", "spasmqa.server.batching", "spasmqa.server.run"}


def test_the_public_surface_is_all() -> None:
    assert all(hasattr(spasmqa, name) for name in spasmqa.__all__)
    cli = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    used = {node.attr for node in ast.walk(ast.parse(cli)) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "spasmqa"}
    assert used <= set(spasmqa.__all__), used - set(spasmqa.__all__)


def test_the_notebooks_use_only_the_public_surface() -> None:
    import re

    import nbformat

    reached = set()
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        reached |= set(re.findall(r"\bfrom spasmqa\.(\w+)", code)) | set(re.findall(r"\bspasmqa\.(\w+)", code))
    assert reached and reached <= set(spasmqa.__all__), reached - set(spasmqa.__all__)


# Modules that run only with an extra installed, and the extra that brings their imports.
EXTRA_OF_MODULE = {"spasmqa.server": "serve", "spasmqa.store.milvus_client": "milvus", "spasmqa.store.milvus_write": "milvus"}


def third_party_imports(path: Path) -> set[str]:
    """The top-level names of the modules outside spasmqa and the standard library that ``path`` imports when it runs."""
    names = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"spasmqa", "__future__"}


def declared_requirements() -> dict[str, set[str]]:
    """The distributions pyproject.toml names, by group: "core" and each extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    return {group: {canonicalize_name(Requirement(line).name) for line in lines} for group, lines in groups.items()}


def test_every_import_is_a_declared_dependency_of_its_group() -> None:
    """A module spasmqa imports must be installed by ``pip install spasmqa`` (or by the extra its feature needs),
    not only by the dev extra the tests run with."""
    distributions = importlib.metadata.packages_distributions()
    declared = declared_requirements()
    undeclared = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        extra = next((extra for prefix, extra in EXTRA_OF_MODULE.items() if module.startswith(prefix)), None)
        allowed = declared["core"] | declared.get(extra, set())
        for name in third_party_imports(path):
            providers = {canonicalize_name(dist) for dist in distributions.get(name, [name])}
            if not providers & allowed:
                undeclared[f"{module} imports {name}"] = sorted(providers)
    assert not undeclared, f"declare each in pyproject.toml, in dependencies or in its module's extra: {undeclared}"
