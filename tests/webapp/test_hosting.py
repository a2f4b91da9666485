"""Hosting files agree with the code: Space front matter, Dockerfile, pins.

No Docker daemon (and no registry for CUDA base images) is reachable on the CI machines,
so the image itself is not built here; these checks catch the drift that breaks it.
"""
from __future__ import annotations

import re
from pathlib import Path

import gradio
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with Space front matter"
    return yaml.safe_load(match.group(1))


def _pins(file_name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / file_name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.partition(";")[0].split("==")  # "; platform_machine ..." markers
            pins[name.strip().lower()] = version.strip()
    return pins


def test_space_front_matter_matches_the_installed_gradio_and_the_app() -> None:
    meta = _front_matter()
    assert meta["sdk"] == "gradio"
    assert meta["sdk_version"] == gradio.__version__ == _pins("requirements.txt")["gradio"]
    assert (ROOT / meta["app_file"]).is_file()
    assert meta["license"] == "mit"
    assert meta["suggested_hardware"]
    assert len(meta["short_description"]) <= 60  # the Hub's limit


def test_readme_still_reads_as_a_project_readme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "# Portrait Lab" in text
    assert "bash scripts/run.sh" in text and "bash scripts/test.sh" in text
    for endpoint in ("/restore", "/replace_background", "/id_photo", "/batch", "/delete_my_files"):
        assert f'api_name="{endpoint}"' in text


def test_dockerfile_runs_as_a_user_on_7860_with_a_health_check_and_verified_weights() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+runtime", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE 7860$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*7860", text, re.M)
    assert "ARG SKIP_WEIGHTS" in text and "weights fetch" in text
    # One plain install, as the Space builder does it: nothing installed without its dependencies.
    assert "pip install -r requirements.txt" in text and "--no-deps" not in text
    assert re.search(r'^CMD \[.*"app.py"\]', text, re.M)


def test_dockerignore_keeps_secrets_and_bulk_out_of_the_build() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "test-artifacts", "/weights/*", "!/weights/manifest.json"} <= ignored
