"""Packaging: the compose file validates (Debian's docker-compose, no engine needed) and langgraph.json resolves."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.required import require_tool

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"


@require_tool(shutil.which("docker-compose"), "docker-compose", ".ci/run installs Debian's package")
def test_compose_file_validates_and_keeps_internal_ports_private() -> None:
    env = {**os.environ, "FAILFORGE_API_TOKEN": "x", "FAILFORGE_DB_PASSWORD": "y"}
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
    for internal in ("mongo", "postgres", "ray-head", "ray-worker"):
        assert "ports" not in services[internal], internal
    app_ports = [
        str(p).rsplit(":", 1)[0]
        if isinstance(p, str)
        else f"{p.get('host_ip', '')}:{p['published']}"
        for p in services["app"]["ports"]
    ]
    # Nothing is published beyond this host unless asked for; the API never without its token.
    assert sorted(app_ports) == ["127.0.0.1:5151", "127.0.0.1:8765"]
    assert services["app"]["environment"]["FAILFORGE_API_TOKEN"] == "x"
    for name in ("vllm", "mongo", "postgres", "ray-head"):
        assert "healthcheck" in services[name], name
    for name in ("vllm", "mongo", "postgres"):
        assert services[name]["image"].split(":")[-1] not in ("", "latest"), name
    # The app keeps its state in Postgres and fans generation and labelling out over Ray.
    app_env = services["app"]["environment"]
    assert (
        app_env["FAILFORGE_STATE__URL"]
        == "postgresql+psycopg://failforge:y@postgres:5432/failforge"
    )
    assert app_env["FAILFORGE_EXECUTION__BACKEND"] == "ray"
    assert app_env["FAILFORGE_EXECUTION__ADDRESS"].startswith("ray-head:")
    assert {"postgres", "ray-head"} <= set(services["app"]["depends_on"])
    # Workers write images where the app reads them: the same workspace volume, same path.
    worker_mounts = [
        v["target"] if isinstance(v, dict) else v.split(":")[1]
        for v in services["ray-worker"]["volumes"]
    ]
    assert "/workspace" in worker_mounts
    for name in ("app", "vllm", "ray-worker"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    for secret in ("FAILFORGE_API_TOKEN", "FAILFORGE_DB_PASSWORD"):
        missing = subprocess.run(
            ["docker-compose", "-f", str(COMPOSE), "config"],
            env={k: v for k, v in env.items() if k != secret},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode != 0 and secret in missing.stderr, secret


def test_dockerfile_installs_from_source_with_pythonpath() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "FROM nvidia/cuda" in dockerfile and "PYTHONPATH=/app" in dockerfile
    assert '-c constraints.txt -e ".[ray]"' in dockerfile  # one image: app, Ray head, workers


def test_langgraph_json_points_at_the_graph_factory() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    path, name = config["graphs"]["failforge"].split(":")
    module = importlib.import_module(path.removeprefix("./").removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name))
