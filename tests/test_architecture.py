"""ARCHITECTURE.md stays true: the layer rule holds for every import, and every module is named."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What each pipeline layer may import from the project (itself included).
ALLOWED = {
    "core": {"core", "i18n"},  # typed errors carry catalogue messages
    # The visitor's language: messages rendered late; it imports nothing else from the project.
    "i18n": {"i18n"},
    "models": {"core", "models"},
    "faces": {"core", "models", "faces", "i18n"},
    "restore": {"core", "models", "faces", "restore", "i18n"},
    # Cut-outs and ID photos reach faces through the faces hub, never through restoration.
    "cutout": {"core", "models", "faces", "cutout", "i18n"},
    "idphoto": {"core", "models", "faces", "cutout", "idphoto", "i18n"},
    # The one batch loop knows nothing of jobs; the front doors sit on everything below.
    "runner": {"core"},
    "batch": {"core", "models", "faces", "restore", "cutout", "idphoto", "runner", "batch", "i18n"},
    "cli": {"core", "models", "faces", "restore", "cutout", "idphoto", "runner", "batch", "cli", "i18n"},
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
    layer = path.relative_to(REPO / "pipeline").parts[0].removesuffix(".py")
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
    """core.pixels.is_rgb_array / require_rgb: six copies of it had drifted into six wordings."""
    check = re.compile(r"shape\[2\] [!=]= 3")
    copies = [str(p.relative_to(REPO)) for p in PIPELINE_MODULES if check.search(p.read_text(encoding="utf-8"))]
    assert copies == ["pipeline/core/pixels.py"]


def _manifest_names_and_archs() -> tuple[set[str], set[str]]:
    import json

    entries = json.loads((REPO / "weights" / "manifest.json").read_text(encoding="utf-8"))["models"]
    return {entry["name"] for entry in entries}, {entry["arch"] for entry in entries}


def _is_arch_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "arch"


def test_no_pipeline_code_branches_on_a_model_or_architecture_name():
    """Detectors, parsers, matting networks and per-architecture quirks are tables keyed by
    the manifest's ``arch`` (faces.registry, cutout.matting, models.store, models.accelerate):
    an ``if arch == "..."`` or ``if name == "mtcnn"`` is a registry entry written as code."""
    names, archs = _manifest_names_and_archs()
    branches = []
    for path in PIPELINE_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            on_arch = any(_is_arch_attribute(side) for side in sides) or any(
                isinstance(side, ast.Name) and side.id == "arch" for side in sides)
            on_model_name = any(isinstance(side, ast.Name) and side.id in ("name", "model") for side in sides) and any(
                isinstance(side, ast.Constant) and side.value in names for side in sides)
            arch_literal = any(isinstance(side, ast.Constant) and side.value in archs - names for side in sides)
            if on_arch or on_model_name or arch_literal:
                branches.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert branches == []


SIZED_MODULES = [*PIPELINE_MODULES, *sorted((REPO / "webapp").rglob("*.py")), REPO / "app.py"]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# A function may be longer when a comment on its first line says why it reads better long.
LONG_BY_CHOICE = "# long by choice:"


@pytest.mark.parametrize("path", SIZED_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_and_functions_stay_a_readable_size(path):
    """Issue 12: one job per module (at most 500 lines) and per function (at most 60)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path.name} has {len(lines)} lines; split it along its sections"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            and LONG_BY_CHOICE not in lines[node.lineno - 1]]
    assert long == []
