"""The paste generator on photographs with known objects: train objects only, exact boxes, the
asked class, size, count and overlap, covered objects shrunk or dropped, bad requests alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from evaluation.attribute_check import AttributeReadBack
from tests.unit.photographs import COLOURS, PHOTOGRAPHS, labelled_photographs, object_pixels
from tools.generator.base import EditSource, GenerationRequest
from tools.generator.check import CheckItem
from tools.generator.instance_bank import InstanceBank, ellipse_mask, write_instance_bank
from tools.generator.paste import PasteGenerator
from tools.generator.paste_layout import CLEAR_IOU, KEEP_VISIBLE
from tools.image_attributes import box_sizes, max_overlaps, measure_image
from tools.labeler.truth import SceneTruthLabeler


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train photographs with drawn objects (the bank), a val photograph (never in it), and the
    plain photographs as empty backgrounds."""
    root = tmp_path_factory.mktemp("paste")
    train = labelled_photographs(root / "train", objects=4, seed=0)
    val = labelled_photographs(root / "val", objects=4, seed=1)[:1]
    plain = {}
    for name in PHOTOGRAPHS:
        plain[name] = root / "plain" / f"{name}.png"
        plain[name].parent.mkdir(exist_ok=True)
        Image.fromarray(getattr(skimage.data, name)()).save(plain[name])
    bank = root / "bank.json"
    write_instance_bank(bank, train)
    return {"root": root, "train": train, "val": val, "plain": plain, "bank": bank}


def request(n: int, **fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "id": f"r{n:03d}",
        "slice_name": "s",
        "prompt": "",
        "conditions": {},
        "seed": n,
        "mode": "paste",
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


def truth_of(path: Path) -> dict:
    return json.loads(path.with_name(f"{path.stem}.truth.json").read_text())


def pixels(path: Path | str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def test_the_bank_holds_exactly_the_train_objects(world: dict) -> None:
    bank = InstanceBank(world["bank"])
    given = sorted((s.sample_id, tuple(b[:4]), b[4]) for s in world["train"] for b in s.boxes)
    held = sorted((i.sample_id, i.box, i.cls) for i in bank.instances)
    assert held == given
    assert {b.sample_id for b in bank.backgrounds} == {s.sample_id for s in world["train"]}


def test_pasted_objects_come_from_train_images_only(world: dict, tmp_path: Path) -> None:
    val = world["val"][0]
    requests = [
        request(n, source_path=val.path, source_boxes=val.boxes, targets={"objects": (2, 3)})
        for n in range(8)
    ]
    made, failed = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    assert not failed
    donors = [d["sample_id"] for m in made for d in truth_of(m.path)["donors"]]
    assert len(donors) >= 16
    assert set(donors) <= {s.sample_id for s in world["train"]}


def test_grabcut_cuts_a_drawn_disk_out_of_its_box_once(world: dict) -> None:
    bank = InstanceBank(world["bank"])
    disk = bank.of_class("disk")[0]
    cutout = bank.cutout(disk)
    truth = object_pixels(cutout.pixels, "disk", tolerance=0)
    iou = (cutout.mask & truth).sum() / (cutout.mask | truth).sum()
    assert cutout.method == "grabcut"
    assert iou > 0.95
    cached = list(bank.mask_dir.glob(f"{disk.key}.png"))
    assert len(cached) == 1
    again = InstanceBank(world["bank"]).cutout(disk)  # a new bank reads it back from disk
    np.testing.assert_array_equal(again.mask, cutout.mask)
    assert again.method == "grabcut"


def test_a_box_grabcut_cannot_cut_gets_the_inscribed_ellipse(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((120, 160, 3), 128, dtype=np.uint8)).save(grey)
    bank_file = tmp_path / "bank.json"
    write_instance_bank(
        bank_file, [EditSource("g", str(grey), [(40, 30, 100, 90, "x"), (5, 5, 12, 11, "x")])]
    )
    bank = InstanceBank(bank_file)
    for instance in bank.instances:  # a flat region, and a box too small to model colours in
        cutout = bank.cutout(instance)
        assert cutout.method == "ellipse"
        rows, cols = (
            np.flatnonzero(cutout.mask.any(axis=1)),
            np.flatnonzero(cutout.mask.any(axis=0)),
        )
        assert (rows[0], cols[0]) == (0, 0)
        assert (rows[-1] + 1, cols[-1] + 1) == cutout.mask.shape


def test_every_pasted_box_holds_exactly_the_pixels_that_changed(
    world: dict, tmp_path: Path
) -> None:
    generator = PasteGenerator(world["bank"], jitter=False)
    requests = [
        request(
            n,
            source_path=str(world["plain"][PHOTOGRAPHS[n % 4]]),
            class_focus=[("disk", "square")[n % 2]],
            targets={"objects": (1, 1)},
        )
        for n in range(12)
    ]
    made, failed = generator.generate(requests, tmp_path, 640)
    assert not failed
    for image, asked in zip(made, requests, strict=True):
        truth = truth_of(image.path)
        assert truth["pasted"] == [0] and truth["classes"] == asked.class_focus
        changed = (pixels(image.path) != pixels(asked.source_path)).any(axis=2)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        x0, y0, x1, y1 = truth["boxes"][0]
        # Every changed pixel lies in the box, and the box is no more than a pixel larger (the
        # donor's label, carried by the same scale, around a mask that may miss a rim pixel).
        assert x0 <= cols[0] and y0 <= rows[0] and cols[-1] + 1 <= x1 and rows[-1] + 1 <= y1
        assert max(cols[0] - x0, rows[0] - y0, x1 - cols[-1] - 1, y1 - rows[-1] - 1) <= 1
        # The pasted pixels are the class's own: a disk is magenta, a square green.
        inside = object_pixels(pixels(image.path).astype(np.uint8), asked.class_focus[0])
        assert inside[changed].mean() > 0.8
        assert (image.width, image.height) == Image.open(asked.source_path).size


@pytest.mark.parametrize("size", [(0.03, 0.05), (0.15, 0.2)])
def test_classes_sizes_and_counts_land_as_asked(world: dict, tmp_path: Path, size: tuple) -> None:
    source = world["train"][1]
    requests = [
        request(
            n,
            source_path=source.path,
            source_boxes=source.boxes,
            class_focus=["square"],
            targets={"objects": (2, 4), "box_size": size},
        )
        for n in range(10)
    ]
    made, failed = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    assert not failed
    for image in made:
        truth = truth_of(image.path)
        boxes = np.array(truth["boxes"])[truth["pasted"]]
        assert 2 <= len(boxes) <= 4
        assert {truth["classes"][k] for k in truth["pasted"]} == {"square"}
        sizes = box_sizes(boxes, max(image.width, image.height))
        assert ((size[0] <= sizes) & (sizes <= size[1])).all()


def test_overlaps_land_in_the_asked_range(world: dict, tmp_path: Path) -> None:
    source = world["train"][0]
    requests = [
        request(
            n,
            source_path=source.path,
            source_boxes=source.boxes,
            targets={"objects": (2, 3), "overlap": (0.2, 0.4)},
        )
        for n in range(10)
    ]
    made, _ = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    for image in made:
        truth = truth_of(image.path)
        overlaps = max_overlaps(np.array(truth["boxes"]))[truth["pasted"]]
        assert ((overlaps >= 0.2) & (overlaps <= 0.4)).all()


def test_without_an_overlap_target_pasted_objects_keep_clear(world: dict, tmp_path: Path) -> None:
    source = world["train"][2]
    requests = [
        request(n, source_path=source.path, source_boxes=source.boxes, targets={"objects": (3, 3)})
        for n in range(6)
    ]
    made, _ = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    for image in made:
        truth = truth_of(image.path)
        assert (max_overlaps(np.array(truth["boxes"]))[truth["pasted"]] <= CLEAR_IOU).all()
        assert len(truth["boxes"]) == len(source.boxes) + 3  # nothing covered, nothing dropped


def test_covered_background_objects_shrink_or_are_dropped(world: dict, tmp_path: Path) -> None:
    """Large squares pasted to overlap heavily: a background disk keeps its box while it shows
    from side to side, shrinks while at least KEEP_VISIBLE of it shows, and is dropped below
    (what shows is what did not change: a green square over a magenta disk)."""
    source = world["train"][0]  # coffee: a disk as large as the pasted squares
    requests = [
        request(
            n,
            source_path=source.path,
            source_boxes=source.boxes,
            class_focus=["square"],
            targets={"objects": (2, 3), "overlap": (0.3, 0.6), "box_size": (0.08, 0.12)},
        )
        for n in range(16)
    ]
    made, _ = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    before = pixels(source.path)
    outcomes = {"kept": 0, "shrunk": 0, "dropped": 0}
    for image in made:
        truth = truth_of(image.path)
        kept = [tuple(b) for k, b in enumerate(truth["boxes"]) if k not in truth["pasted"]]
        changed = (pixels(image.path) != before).any(axis=2)
        for box in (b for b in source.boxes if b[4] == "disk"):
            x0, y0, x1, y1 = (int(v) for v in box[:4])
            # Its pixels: the ellipse inscribed in its box (the generator's model, no mask).
            showing = 1 - changed[y0:y1, x0:x1][ellipse_mask(y1 - y0, x1 - x0)].mean()
            if tuple(box[:4]) in kept:
                outcomes["kept"] += 1
                assert showing >= KEEP_VISIBLE
            elif any(
                x0 <= b[0] and y0 <= b[1] and b[2] <= x1 and b[3] <= y1 for b in kept
            ):  # a box inside the old one: shrunk
                outcomes["shrunk"] += 1
                assert showing >= KEEP_VISIBLE
            else:
                outcomes["dropped"] += 1
                assert showing < KEEP_VISIBLE
    assert min(outcomes.values()) >= 2, outcomes


def test_image_attributes_are_edited_into_range_and_read_back(world: dict, tmp_path: Path) -> None:
    requests = []
    for n, source in enumerate(world["train"] * 2):
        stats = measure_image(pixels(source.path).astype(np.uint8), ["brightness", "contrast"])
        up = 1 if n % 2 else -1
        targets = {
            "objects": (1, 2),
            "brightness": (stats["brightness"] + 15 * up - 4, stats["brightness"] + 15 * up + 4),
            "contrast": (stats["contrast"] * 0.8, stats["contrast"] * 0.9),
            "box_size": (0.05, 0.1),
        }
        requests.append(
            request(n, source_path=source.path, source_boxes=source.boxes, targets=targets)
        )
    made, failed = PasteGenerator(world["bank"], jitter=False).generate(requests, tmp_path, 640)
    assert not failed
    checks = AttributeReadBack().check(
        [
            CheckItem(str(m.path), r.prompt, {}, None, 640, r.targets)  # type: ignore[arg-type]
            for m, r in zip(made, requests, strict=True)
        ]
    )
    assert [c.unmet for c in checks] == [[]] * len(requests)
    assert all(c.as_asked and c.checked and c.score == 1.0 for c in checks)


def test_the_truth_file_labels_every_object(world: dict, tmp_path: Path) -> None:
    source = world["train"][0]
    made, _ = PasteGenerator(world["bank"], jitter=False).generate(
        [request(1, source_path=source.path, source_boxes=source.boxes)], tmp_path, 640
    )
    labels = SceneTruthLabeler().label(made, list(COLOURS))[0]
    truth = truth_of(made[0].path)
    assert labels is not None
    np.testing.assert_array_equal(labels.xyxy, np.array(truth["boxes"]))
    assert [list(COLOURS)[c] for c in labels.class_id] == truth["classes"]


def test_the_same_request_makes_the_same_image(world: dict, tmp_path: Path) -> None:
    asked = request(5, targets={"objects": (2, 2), "haze": (100.0, 120.0)})  # background by seed
    generator = PasteGenerator(world["bank"], jitter=False)
    first, _ = generator.generate([asked], tmp_path / "a", 640)
    second, _ = generator.generate([asked], tmp_path / "b", 640)
    assert first[0].path.read_bytes() == second[0].path.read_bytes()
    assert truth_of(first[0].path)["background"] in {s.path for s in world["train"]}


def test_a_bad_request_fails_alone_with_its_reason(world: dict, tmp_path: Path) -> None:
    source = world["train"][0]
    good = request(0, source_path=source.path, source_boxes=source.boxes)
    bad = {
        "r001": request(1, targets={"glare": (1.0, 2.0)}),
        "r002": request(2, targets={"brightness": (120.0, 80.0)}),
        "r003": request(3, class_focus=["giraffe"]),
        "r004": request(4, source_path=str(tmp_path / "missing.png")),
        "r005": request(5, mode="retrieve"),
        "r006": request(6, targets={"objects": (1.2, 1.8)}),
    }
    made, failed = PasteGenerator(world["bank"], jitter=False).generate(
        [good, *bad.values()], tmp_path, 640
    )
    assert [m.request_id for m in made] == ["r000"]
    assert set(failed) == set(bad)
    assert "glare" in failed["r001"]
    assert "no range" in failed["r002"]
    assert "giraffe" in failed["r003"]
    assert "missing.png" in failed["r004"]
    assert "retrieve" in failed["r005"]
    assert "whole count" in failed["r006"]


def test_the_bank_is_read_on_first_use(tmp_path: Path) -> None:
    generator = PasteGenerator(tmp_path / "absent.json")  # constructing reads nothing
    made, failed = generator.generate([request(0)], tmp_path, 640)
    assert made == []
    assert "no instance bank" in failed["r000"]


def test_a_jittered_background_keeps_its_boxes_on_its_objects() -> None:
    from tools.generator.paste import jitter_background

    # Two solid squares on black: after mirroring and cropping, each kept box still holds
    # its square's pixels (the square is what is bright inside it, and nothing outside it is).
    image = np.zeros((120, 160, 3), np.uint8)
    image[20:50, 30:60] = (255, 0, 0)
    image[70:110, 100:150] = (0, 255, 0)
    boxes = [(30.0, 20.0, 60.0, 50.0, "a"), (100.0, 70.0, 150.0, 110.0, "b")]
    for seed in range(12):
        out, moved = jitter_background(image, boxes, np.random.default_rng(seed))
        assert out.shape == image.shape
        for x0, y0, x1, y1, cls in moved:
            channel = 0 if cls == "a" else 1
            bright = out[..., channel] > 128
            inside = bright[int(np.ceil(y0)) + 1 : int(y1) - 1, int(np.ceil(x0)) + 1 : int(x1) - 1]
            assert inside.mean() > 0.95, (seed, cls)
            outside = bright.copy()
            outside[max(int(y0) - 2, 0) : int(y1) + 3, max(int(x0) - 2, 0) : int(x1) + 3] = False
            assert outside.sum() == 0, (seed, cls)
