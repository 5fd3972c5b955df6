"""The shape of the package: the core never reaches into evaluation or a method family, method families never
reach into each other, and `import tokswap` stays free of torch and transformers."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tokswap"
FAMILIES = ("heuristics", "omp", "hypernet", "heal")


def _imports(path: Path) -> set[str]:
    """Every tokswap module a file imports, as a dotted name under the package."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found |= {module} if node.module else {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.split(".")[0] == "tokswap"}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "core"


def test_the_core_imports_no_evaluation_and_no_method_family():
    for path in PACKAGE.glob("*.py"):
        if path.name == "cli.py":
            continue
        reached = {_part(module) for module in _imports(path)} - {"core"}
        assert not reached, f"{path.name} imports {sorted(reached)}"


@pytest.mark.parametrize("family", [*FAMILIES, "eval"])
def test_each_family_reaches_only_the_core_and_itself(family):
    for path in (PACKAGE / family).glob("*.py"):
        reached = {_part(module) for module in _imports(path)} - {"core", family}
        assert not reached, f"{family}/{path.name} imports {sorted(reached)}"


def test_import_tokswap_and_building_the_command_line_stay_light():
    probe = "import sys, tokswap, tokswap.cli; tokswap.cli._parser(); print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'numpy'}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_public_api_resolves_lazily():
    import tokswap

    assert callable(tokswap.transplant) and callable(tokswap.load_model) and issubclass(tokswap.TokswapError, Exception)
    with pytest.raises(AttributeError):
        tokswap.nothing_here
