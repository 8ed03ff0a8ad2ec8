"""Files written whole or not at all (tools/files.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tools.files import write_text_whole, written_whole


def test_a_write_that_fails_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), written_whole(path) as partial:
        partial.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_finished_write_replaces_the_file_and_makes_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "current_loop.json"
    write_text_whole(path, '{"loop_id": "a"}')
    write_text_whole(path, '{"loop_id": "b"}')
    assert path.read_text() == '{"loop_id": "b"}'
    assert [p.name for p in path.parent.iterdir()] == ["current_loop.json"]


def test_the_partial_keeps_the_suffix_a_library_picks_its_format_by(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    with written_whole(path) as partial:
        assert partial.suffix == ".png" and partial.parent == tmp_path and partial != path
        Image.new("L", (4, 4), 255).save(partial)  # PNG chosen by the name
    with Image.open(path) as saved:
        assert saved.format == "PNG"
