"""The documentation's reference, generated from the code, lists every setting, command and route;
the site builds in strict mode; the README stays a front door."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from agent.settings import Settings
from tests.required import require_module

ROOT = Path(__file__).resolve().parents[2]


@cache
def _generator() -> ModuleType:
    """scripts/gen_reference.py, imported as `make docs` runs it (a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "scripts/gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("reference")
    return {path.name: path.read_text() for path in _generator().write_reference(folder)}


def _leaves(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf field of a settings model by dotted key, walking nested models."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_leaves(annotation, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = field
    return found


SETTINGS = _leaves(Settings)


def test_every_setting_has_a_description() -> None:
    missing = [key for key, field in SETTINGS.items() if not (field.description or "").strip()]
    assert missing == [], f"give these settings a Field(description=...): {missing}"


def test_the_settings_page_lists_every_setting_with_its_description(pages: dict[str, str]) -> None:
    rows = re.findall(r"^\| `([a-z0-9_.]+)` \| .* \| (.*) \|$", pages["settings.md"], re.M)
    listed = dict(rows)
    assert set(listed) == set(SETTINGS)
    for key, field in SETTINGS.items():
        # The cell escapes what Markdown would read as a column break or a tag.
        expected = (field.description or "").replace("|", "\\|").replace("<", "&lt;")
        assert listed[key] == expected.replace(">", "&gt;").replace("\n", " ").strip(), key
    for section in ("detector", "loop", "gate", "backends", "analyst"):
        assert f"`FAILFORGE_{section.upper()}__<KEY>`" in pages["settings.md"]


def test_a_nested_setting_without_a_description_is_found() -> None:
    class Undescribed(BaseModel):
        new_knob: int = 3

    class WithNewSection(Settings):
        extra: Undescribed = Undescribed()

    undescribed = [k for k, f in _leaves(WithNewSection).items() if not f.description]
    assert "extra.new_knob" in undescribed


def _commands() -> dict[str, Any]:
    import typer.main

    from agent.entry.cli import app

    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


def test_the_cli_page_lists_every_command_and_option(pages: dict[str, str]) -> None:
    text = pages["cli.md"]
    headings = re.findall(r"^## `([a-z-]+)`$", text, re.M)
    commands = _commands()
    assert sorted(headings) == sorted(name for name, c in commands.items() if not c.hidden)
    sections = dict(zip(headings, re.split(r"^## `[a-z-]+`$", text, flags=re.M)[1:], strict=True))
    for name, command in commands.items():
        for param in command.params:
            for flag in param.opts:
                assert flag in sections[name], (name, flag)
        if command.help:
            assert command.help.strip().splitlines()[0] in sections[name]


def test_the_api_page_lists_every_route(pages: dict[str, str]) -> None:
    from agent.entry.api import create_app

    # The service's own schema, the one it serves at /openapi.json, is the list of routes.
    schema = create_app(_generator()._NoWorkspace(), "token").openapi()  # type: ignore[arg-type]
    routes = {
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item
    }
    assert {"GET /status", "POST /batches/{batch_id}/approve"} <= routes
    assert routes == set(re.findall(r"^## `([A-Z]+ \S+)`$", pages["api.md"], re.M))
    for name in schema["components"]["schemas"]:
        assert f"### {name}\n" in pages["api.md"], name


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    require_module("mkdocs", "the dev extra installs it")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("reference"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    _generator().write_reference(tmp_path / "docs" / "reference")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "settings.html").is_file()


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert not re.search(r"(?<![\w/])#\d+\b", text), "no issue numbers"
    assert not re.search(r"\b[0-9a-f]{7,40}\b", text), "no commit hashes"
    # Links into docs/ name committed pages (the generated reference exists only in the site).
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links and all((ROOT / link).is_file() for link in links), links
    assert not any(link.startswith("docs/reference/") for link in links)
