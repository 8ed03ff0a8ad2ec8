"""Importing a Pascal VOC folder: bad files are skipped once with their reason, split lists honoured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.entry.cli import app
from storage.importers import ImportError_, import_labelled


def _image(path: Path, width: int = 64, height: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path)


def _xml(
    filename: str, *objects: tuple[str, int, int, int, int] | tuple[str, int, int, int, int, int]
) -> str:
    parts = []
    for name, x0, y0, x1, y1, *difficult in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult[0] if difficult else 0}</difficult>"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
            "</object>"
        )
    return (
        f"<annotation><folder>JPEGImages</folder><filename>{filename}</filename>"
        f"<size><width>64</width><height>48</height><depth>3</depth></size>{''.join(parts)}"
        "</annotation>"
    )


def _write(root: Path, stem: str, text: str, image: bool = True) -> None:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / f"{stem}.xml").write_text(text)
    if image:
        _image(root / "JPEGImages" / f"{stem}.jpg")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<annotation><filename>bomb.jpg</filename><object><name>&b;</name></object></annotation>"""


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    root = tmp_path / "VOC"
    _write(root, "good", _xml("good.jpg", ("cell", 2, 3, 20, 30), ("blob", 30, 10, 60, 40, 1)))
    _write(root, "second", _xml("second.jpg", ("cell", 0, 0, 64, 48)))
    _write(root, "missing", _xml("missing.jpg", ("cell", 2, 3, 20, 30)), image=False)
    _write(root, "outside", _xml("outside.jpg", ("cell", 40, 10, 80, 20)))
    _write(root, "flat", _xml("flat.jpg", ("cell", 10, 10, 10, 20)))
    _write(root, "noobjects", _xml("noobjects.jpg"))
    _write(root, "notxml", "hello, not xml")
    _write(root, "broken", _xml("broken.jpg", ("cell", 2, 3, 20, 30))[:-20])
    _write(root, "noname", _xml("noname.jpg", ("", 2, 3, 20, 30)))
    _write(root, "nan", _xml("nan.jpg", ("cell", 2, 3, 20, 30)).replace("<xmax>20", "<xmax>x"))
    _write(root, "bomb", BOMB)
    _write(root, "notvoc", "<coco><images/></coco>")
    (root / "Annotations" / "README.txt").write_text("labelled by hand")
    _image(root / "JPEGImages" / "orphan.jpg")
    return root


def test_each_bad_file_is_skipped_once_with_its_reason(voc: Path) -> None:
    report = import_labelled(voc, "voc", ["car"])
    assert sorted(i.path.name for i in report.images) == ["good.jpg", "second.jpg"]
    reasons = {path.name: reason for path, reason in report.skipped}
    assert len(reasons) == len(report.skipped) == 12
    assert reasons["missing.xml"] == "its image JPEGImages/missing.jpg does not exist"
    assert reasons["outside.xml"] == "box [40, 10, 80, 20] of 'cell' is outside the 64 x 48 image"
    assert reasons["flat.xml"] == "box [10, 10, 10, 20] of 'cell' has no width or height"
    assert reasons["noobjects.xml"] == "no objects"
    assert reasons["notxml.xml"].startswith("not well-formed XML (syntax error")
    assert reasons["broken.xml"].startswith("not well-formed XML")
    assert reasons["noname.xml"] == "object 1 has no class name"
    assert reasons["nan.xml"] == "object 1 ('cell') has no number for bndbox/xmax"
    assert reasons["bomb.xml"] == "XML with entities or a DTD, refused (EntitiesForbidden)"
    assert reasons["notvoc.xml"] == "the root element is <coco>, not <annotation>"
    assert reasons["README.txt"] == "not an annotation file (.xml)"
    assert reasons["orphan.jpg"] == "no annotation file (expected Annotations/orphan.xml)"


def test_classes_are_sorted_and_boxes_read_as_pixels_with_difficult_kept(voc: Path) -> None:
    report = import_labelled(voc, "voc", ["car"])
    assert report.classes == ["blob", "cell"]  # the street default is never used for VOC
    good = next(i for i in report.images if i.path.name == "good.jpg")
    assert (good.width, good.height) == (64, 48)
    # Clipped into the image: the blob's xmax 60 stays, nothing is shifted by VOC's 1-based habit.
    np.testing.assert_allclose(good.detections.xyxy, [[2, 3, 20, 30], [30, 10, 60, 40]])
    assert good.detections.class_id.tolist() == [1, 0]
    assert "1 objects marked difficult are kept as ordinary objects" in " ".join(report.notes)
    assert any("split 60/20/20 by file name" in note for note in report.notes)


def test_classes_given_restrict_and_order_the_import(voc: Path) -> None:
    report = import_labelled(voc, "voc", ["car"], classes=["cell"])
    assert report.classes == ["cell"]
    assert [i.path.name for i in report.images] == ["second.jpg"]
    assert report.images[0].detections.class_id.tolist() == [0]
    reasons = {path.name: reason for path, reason in report.skipped}
    assert reasons["good.xml"] == "class 'blob' is not one of --classes (cell)"


def test_split_lists_are_honoured_and_a_file_in_two_lists_skipped(tmp_path: Path) -> None:
    root = tmp_path / "VOCdevkit" / "VOC2012"  # the devkit's nesting: its parent is passed
    names = ["a", "b", "c", "d", "e"]
    for name in names:
        _write(root, name, _xml(f"{name}.jpg", ("cell", 2, 3, 20, 30)))
    lists = root / "ImageSets" / "Main"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("a\nb\n")
    (lists / "val.txt").write_text("c\nb\n")
    (lists / "test.txt").write_text("d\n")
    report = import_labelled(tmp_path / "VOCdevkit", "voc", [])
    splits = {i.path.stem: i.tags for i in report.images}
    assert {k: v for k, v in splits.items() if k != "e"} == {
        "a": ["train"],
        "c": ["val"],
        "d": ["test"],
    }
    assert splits["e"][0] in ("train", "val", "test")  # in no list: the stable name hash
    assert [(p.name, r) for p, r in report.skipped] == [
        ("b.xml", "listed in both train.txt and val.txt")
    ]
    assert "1 images are in no ImageSets/Main list: split 60/20/20 by file name" in report.notes


def test_a_folder_without_annotations_is_one_clear_error(tmp_path: Path) -> None:
    _image(tmp_path / "JPEGImages" / "a.jpg")
    with pytest.raises(ImportError_, match="holds no Annotations folder"):
        import_labelled(tmp_path, "voc", [])


def test_a_folder_with_nothing_usable_is_one_clear_error(tmp_path: Path) -> None:
    _write(tmp_path, "notxml", "hello")
    with pytest.raises(ImportError_, match=r"No usable labelled image .* \(1 files skipped\)"):
        import_labelled(tmp_path, "voc", [])


def test_init_imports_a_voc_folder_and_says_what_it_chose(voc: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["init", str(ws), "--import", str(voc), "--format", "voc"])
    assert result.exit_code == 0, result.output
    assert f"skipped {voc / 'Annotations' / 'flat.xml'}: box [10, 10, 10, 20]" in result.output
    # 64 x 48 images: never enlarged past their long side, whatever their objects ask for.
    assert "image size 64: the 10th-percentile cell object is 21 px at 64" in result.output
    assert "classes blob, cell: sorted by name (--classes sets them)" in result.output
    settings = yaml.safe_load((ws / "failforge.yaml").read_text())
    assert settings["classes"] == ["blob", "cell"] and settings["detector"]["imgsz"] == 64


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--import", "{data}", "--format", "voc"], "holds no Annotations folder"),
        (
            ["--import", "{data}", "--format", "pascal"],
            "Unknown --format 'pascal'; use yolo, coco, voc.",
        ),
        (["--label-field", "gt"], "--label-field names a field of the --fiftyone dataset"),
        (["--classes", "a,b"], "--classes names the classes of an import"),
        (["--import", "{data}", "--classes", "a,,a"], "--classes 'a,,a' must name each class once"),
        (
            ["--import", "{data}", "--fiftyone", "mine"],
            "Pass one of --world, --import and --fiftyone.",
        ),
    ],
)
def test_bad_import_options_are_one_sentence_and_write_nothing(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ws = tmp_path / "ws"
    args = [a.replace("{data}", str(data)) for a in arguments]
    result = CliRunner().invoke(app, ["init", str(ws), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not ws.exists()
