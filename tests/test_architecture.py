"""ARCHITECTURE.md stays true: the layer rule holds for every import, and every module is named."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What each pipeline layer may import from the project (itself included).
ALLOWED = {
    "core": {"core"},
    "models": {"core", "models"},
    "faces": {"core", "models", "faces"},
    "restore": {"core", "models", "faces", "restore"},
    "cutout": {"core", "models", "faces", "restore", "cutout"},
    "idphoto": {"core", "models", "faces", "restore", "cutout", "idphoto"},
}
PIPELINE_MODULES = sorted((REPO / "pipeline").rglob("*.py"))


def _project_imports(path: Path) -> list[str]:
    """Absolute dotted names this module imports from the project (lazy imports included)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.split(".")[0] in ("pipeline", "webapp", "app")]


@pytest.mark.parametrize("path", PIPELINE_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_pipeline_module_imports_only_what_its_layer_may(path):
    layer = path.relative_to(REPO / "pipeline").parts[0]
    for name in _project_imports(path):
        assert not name.startswith(("webapp", "app")), f"{path.name} imports the web app ({name})"
        if layer in ALLOWED and name.startswith("pipeline."):
            target = name.split(".")[1]
            assert target in ALLOWED[layer], f"pipeline/{layer} may not import {name}"


def test_the_pipeline_uses_absolute_imports_only():
    """One spelling per module, so a move is one search; relative imports hid the layers."""
    relative = [str(p.relative_to(REPO)) for p in PIPELINE_MODULES
                if any(isinstance(n, ast.ImportFrom) and n.level and n.module not in ("cli",)
                       for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert relative == []


def test_architecture_md_names_every_module():
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = [*PIPELINE_MODULES, *sorted((REPO / "webapp").rglob("*.py"))]
    missing = [str(p.relative_to(REPO)) for p in modules
               if p.name != "__init__.py" and p.stem not in text]
    assert missing == []


def test_the_rgb_array_check_has_one_home():
    """core.imageio.is_rgb_array / require_rgb: six copies of it had drifted into six wordings."""
    check = re.compile(r"shape\[2\] [!=]= 3")
    copies = [str(p.relative_to(REPO)) for p in PIPELINE_MODULES if check.search(p.read_text(encoding="utf-8"))]
    assert copies == ["pipeline/core/imageio.py"]
