"""Time the paste generator on a Pascal VOC dataset's train split and read its images back.

    .venv/bin/python scripts/time_paste_generator.py ../shared/data/bccd/BCCD --images 100

Builds the instance bank from the train list, writes requests like the planner's (a class,
1-3 objects, a box size bin, and image attributes drawn from the train images' own bins), and
prints seconds per image (bank masks made on first use counted apart) and the share of images
whose every target reads back in range, per target.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.attribute_check import AttributeReadBack
from tools.generator.base import EditSource, GenerationRequest
from tools.generator.check import CheckItem
from tools.generator.instance_bank import write_instance_bank
from tools.generator.paste import PasteGenerator
from tools.image_attributes import box_sizes, image_attributes

QUANTILES = (0.1, 1 / 3, 2 / 3, 0.9)


def voc_sources(root: Path, split: str) -> list[EditSource]:
    names = (root / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
    sources = []
    for name in names:
        tree = ET.parse(root / "Annotations" / f"{name}.xml")
        boxes = []
        for obj in tree.findall("object"):
            b = obj.find("bndbox")
            assert b is not None
            x0, y0, x1, y1 = (float(b.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1, y1, str(obj.findtext("name"))))
        sources.append(EditSource(name, str(root / "JPEGImages" / f"{name}.jpg"), boxes))
    return sources


def bins(values: list[float]) -> list[tuple[float, float]]:
    low, high = np.quantile(values, (0.02, 0.98))
    edges = [float(low), *np.quantile(values, QUANTILES).tolist(), float(high)]
    return list(itertools.pairwise(edges))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("voc", type=Path)
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    sources = voc_sources(args.voc, "train")
    stats = [image_attributes(s.path) for s in sources]
    image_bins = {
        k: bins([s[k] for s in stats]) for k in ("brightness", "contrast", "haze", "sharpness")
    }
    sizes = [float(v) for s in sources for v in box_sizes(np.array([b[:4] for b in s.boxes]), 640)]
    size_bins = bins(sizes)
    classes = sorted({b[4] for s in sources for b in s.boxes})
    rng = np.random.default_rng(0)
    requests = []
    for index in range(args.images):
        attributes = rng.choice(list(image_bins), size=int(rng.integers(0, 3)), replace=False)
        targets = {str(a): image_bins[str(a)][int(rng.integers(5))] for a in attributes}
        targets["box_size"] = size_bins[int(rng.integers(5))]
        targets["objects"] = (1.0, 3.0)
        if rng.random() < 0.25:
            targets["overlap"] = (0.1, 0.4)
        background = sources[int(rng.integers(len(sources)))]
        requests.append(
            GenerationRequest(
                id=f"r{index:04d}",
                slice_name="bench",
                prompt="",
                conditions={},
                class_focus=[str(rng.choice(classes))],
                seed=index,
                mode="paste",
                source_path=background.path,
                source_boxes=background.boxes,
                targets=targets,
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        bank = Path(folder) / "bank.json"
        write_instance_bank(bank, sources)
        generator = PasteGenerator(bank)
        start = time.perf_counter()
        generator.generate(requests, Path(folder) / "warm", 640)  # masks made on first use
        warm = time.perf_counter() - start
        start = time.perf_counter()
        made, failed = generator.generate(requests, Path(folder) / "out", 640)
        seconds = (time.perf_counter() - start) / len(requests)
        by_id = {r.id: r for r in requests}
        checks = AttributeReadBack().check(
            [CheckItem(str(m.path), "", {}, None, 640, by_id[m.request_id].targets) for m in made]  # type: ignore[arg-type]
        )
    asked = Counter(k for r in requests for k in r.targets)
    unmet = Counter(k for c in checks for k in c.unmet)
    print(f"{len(made)} images, {len(failed)} failed {dict(list(failed.items())[:3])}")
    print(f"first pass (GrabCut masks made): {warm / len(requests):.3f} s/image")
    print(f"cached masks: {seconds:.3f} s/image")
    print(f"every target in range: {sum(c.as_asked for c in checks) / len(checks):.0%}")
    for name, count in sorted(asked.items()):
        print(f"  {name}: {1 - unmet[name] / count:.0%} of {count}")


if __name__ == "__main__":
    main()
