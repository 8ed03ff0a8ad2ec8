"""Packaging: the compose file validates (Debian's docker-compose, no engine needed) and langgraph.json resolves."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (.ci/run installs Debian's package)",
)
def test_compose_file_validates_and_keeps_internal_ports_private() -> None:
    env = {**os.environ, "FAILFORGE_API_TOKEN": "x"}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert "ports" not in services["mongo"]
    app_ports = [
        str(p) if isinstance(p, str) else f"{p.get('host_ip', '')}:{p['published']}"
        for p in services["app"]["ports"]
    ]
    assert any(p.startswith("127.0.0.1:5151") for p in app_ports)
    assert services["vllm"]["image"].split(":")[-1] not in ("", "latest")
    assert "healthcheck" in services["vllm"] and "healthcheck" in services["mongo"]
    for name in ("app", "vllm"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    missing = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        env={k: v for k, v in env.items() if k != "FAILFORGE_API_TOKEN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "FAILFORGE_API_TOKEN" in missing.stderr


def test_dockerfile_installs_from_source_with_pythonpath() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "FROM nvidia/cuda" in dockerfile and "PYTHONPATH=/app" in dockerfile
    assert "-c constraints.txt -e ." in dockerfile


def test_langgraph_json_points_at_the_graph_factory() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    path, name = config["graphs"]["failforge"].split(":")
    module = importlib.import_module(path.removeprefix("./").removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name))
