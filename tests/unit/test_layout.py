"""The shape of the package: each folder imports only what its `__init__` says it may, no module imports
itself back through others, the root holds the core alone, and `import tokswap` stays free of torch and
transformers."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tokswap"
CORE_FOLDERS = {"gguf_reading"}  # the core's own folders: reading `.gguf` specs is loading
MAY_IMPORT = {  # besides itself; the command line (cli.py) imports every part
    "core": set(),
    "gguf": {"core"},
    "training": {"core"},
    "heuristics": {"core"},
    "omp": {"core"},
    "hypernet": {"core", "training"},
    "heal": {"core", "training", "drafting"},
    "drafting": {"core"},
    "eval": {"core", "gguf"},
    "recipes": {"core", "training", "heal", "drafting", "gguf"},
}
ROOT_LIMIT = 25


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Every tokswap module a file imports (a name imported from a package counts as its module when it is one)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.split(".")[0] == "tokswap" and name != "tokswap"}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() and parts[1] not in CORE_FOLDERS else "core"


def _sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts and p.name != "cli.py"]


def test_every_folder_declares_what_it_may_import():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(MAY_IMPORT) - {"core"} | CORE_FOLDERS
    for folder in folders:
        assert "may import" in " ".join((PACKAGE / folder / "__init__.py").read_text().split()), f"{folder}/__init__.py does not say what it may import"


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_each_part_imports_only_what_it_may(part):
    for path in _sources():
        if _part(_module(path)) != part:
            continue
        reached = {_part(module) for module in _imports(path)} - {part} - MAY_IMPORT[part]
        assert not reached, f"{path.relative_to(PACKAGE)} imports {sorted(reached)}"


def test_no_module_imports_itself_back():
    graph = {_module(path): _imports(path) for path in _sources()}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        path.append(module)
        for imported in graph.get(module, ()):
            visit(imported)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_the_root_holds_the_core_alone():
    """At most ROOT_LIMIT modules, and none that only one folder uses: that module belongs in the folder."""
    root = sorted(p for p in PACKAGE.glob("*.py"))
    assert len(root) <= ROOT_LIMIT, [p.name for p in root]
    users = {_module(p): set() for p in root}
    for path in PACKAGE.rglob("*.py"):
        for module in _imports(path) & set(users):
            users[module].add(_part(_module(path)) if path.name != "cli.py" else "cli")
    for module, parts in users.items():
        (only,) = parts if len(parts) == 1 else (None,)
        assert only not in MAY_IMPORT or only == "core", f"{module} is used only by {only}/: it belongs there"


def test_import_tokswap_and_building_the_command_line_stay_light():
    probe = "import sys, tokswap, tokswap.cli; tokswap.cli._parser(); print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'numpy'}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_public_api_resolves_lazily():
    import tokswap

    assert callable(tokswap.transplant) and callable(tokswap.load_model) and callable(tokswap.GgufCompanion) and issubclass(tokswap.TokswapError, Exception)
    with pytest.raises(AttributeError):
        tokswap.nothing_here
