"""Test set-up shared by every tier: one FiftyOne database per test session, offline libraries."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Missing-tool skips fail under CI=true (tests/required.py).
pytest_plugins = ["tests.required"]

# One FiftyOne database (one mongod) serves the whole session; each workspace's datasets are
# named after its own id, so tests do not see each other's data.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="failforge-tests-"))
os.environ.setdefault("FAILFORGE_FIFTYONE__DATABASE_DIR", str(_SESSION_DIR / "fiftyone"))
os.environ.setdefault("YOLO_CONFIG_DIR", str(_SESSION_DIR / "ultralytics"))
os.environ.setdefault("YOLO_OFFLINE", "1")
# Trainings in this session take turns among themselves, not with other sessions on the machine.
os.environ.setdefault("FAILFORGE_DETECTOR__MACHINE_LOCK", str(_SESSION_DIR / "detector.lock"))
os.environ.pop("FAILFORGE_WORKSPACE", None)
# A token in the developer's shell would change what the service tests expect.
os.environ.pop("FAILFORGE_API_TOKEN", None)
os.environ.pop("FAILFORGE_API_REVIEWERS", None)

TINY_WORLD = """\
seed: 3
image_size: 64
splits: {train: 24, val: 12, test: 12}
"""


@pytest.fixture
def tiny_yaml_path(tmp_path: Path) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(TINY_WORLD)
    return path
