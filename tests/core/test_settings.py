"""Every PORTRAIT_LAB_* setting has one home (pipeline/core/settings.py) and the README
lists exactly those."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from pipeline.core import settings
from pipeline.core.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"PORTRAIT_LAB_[A-Z_]*[A-Z]")
HOME = REPO / "pipeline" / "core" / "settings.py"


def _code_files() -> list[Path]:
    return [*sorted((REPO / "pipeline").rglob("*.py")), *sorted((REPO / "webapp").rglob("*.py")), REPO / "app.py"]


def test_setting_names_are_defined_only_in_their_home():
    """A string that is exactly a setting's name defines a reader: only the table may hold it."""
    elsewhere = []
    for path in _code_files():
        if path == HOME:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                elsewhere.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value}")
    assert elsewhere == []


def test_every_mentioned_setting_is_in_the_table():
    known = {setting.name for setting in SETTINGS}
    mentioned = {name for path in _code_files() for name in NAME.findall(path.read_text(encoding="utf-8"))}
    mentioned.discard("PORTRAIT_LAB")  # "PORTRAIT_LAB_*" in prose
    assert mentioned - known == set()


def test_the_readme_lists_exactly_the_settings():
    readme = {name for name in NAME.findall((REPO / "README.md").read_text(encoding="utf-8"))}
    assert readme == {setting.name for setting in SETTINGS}


def test_every_setting_says_what_it_means_and_is_read_where_it_says():
    constant_of = {value: name for name, value in vars(settings).items() if isinstance(value, str) and NAME.fullmatch(value)}
    for setting in SETTINGS:
        assert setting.meaning and setting.default
        module = REPO / Path(*setting.read_by.split(".")).with_suffix(".py")
        assert f"settings.{constant_of[setting.name]}" in module.read_text(encoding="utf-8"), setting.read_by


def test_the_documented_defaults_are_the_code_defaults():
    """The table states defaults for people; the code has its own constants: they must agree."""
    from pipeline.core import limits
    from webapp import config, sessions

    in_code = {
        settings.MAX_PIXELS: limits.DEFAULT_MAX_PIXELS, settings.MAX_BATCH_FILES: limits.DEFAULT_MAX_BATCH_FILES,
        settings.PORT: config.DEFAULT_PORT, settings.QUEUE_MAX: config.DEFAULT_QUEUE_MAX,
        settings.MAX_UPLOAD_MB: config.DEFAULT_MAX_UPLOAD_MB, settings.MAX_AGE_S: sessions.DEFAULT_MAX_AGE_S,
        settings.HOST: config.DEFAULT_HOST,
    }
    documented = {setting.name: setting.default for setting in SETTINGS}
    for name, value in in_code.items():
        assert documented[name] == str(value).removesuffix(".0"), name
