"""A contact sheet (PNG) of one batch: its images in a grid with their labels drawn.

    python scripts/contact_sheet.py WORKSPACE [--batch BATCH_ID] [--count 24] [--out sheet.png]

Without --batch, the newest approved batch. Boxes are drawn in one colour per class; each tile
is captioned with the request's target slice.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from agent.bootstrap import build_deps
from agent.settings import Settings

COLOURS = [(255, 64, 64), (64, 200, 255), (255, 220, 0), (120, 255, 120), (255, 120, 255)]
TILE = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--batch", default=None)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("contact-sheet.png"))
    args = parser.parse_args()
    deps = build_deps(Settings.load(args.workspace))
    batches = [b for b in deps.registry.batches() if args.batch in (None, b.id)]
    approved = [b for b in batches if b.status == "approved"] or batches
    if not approved:
        raise SystemExit(f"No batch {args.batch or ''} in {args.workspace}.")
    batch = approved[-1]
    view = deps.datasets.batch(batch.id)
    samples = deps.datasets.samples(view)[: args.count]
    labels = deps.datasets.labels(view)[: len(samples)]
    slices = view.values("target_slice")[: len(samples)]
    rows = -(-len(samples) // args.columns)
    sheet = Image.new("RGB", (args.columns * TILE, rows * (TILE + 14)), (24, 24, 24))
    for k, (sample, detections, slice_name) in enumerate(
        zip(samples, labels, slices, strict=True)
    ):
        with Image.open(sample.path) as opened:
            image = opened.convert("RGB")
        draw = ImageDraw.Draw(image)
        for (x0, y0, x1, y1), class_id in zip(
            detections.xyxy,
            detections.class_id if detections.class_id is not None else [],
            strict=True,
        ):
            draw.rectangle([x0, y0, x1, y1], outline=COLOURS[int(class_id) % len(COLOURS)], width=2)
        scale = TILE / max(image.size)  # up or down, so small images read too
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        x, y = (k % args.columns) * TILE, (k // args.columns) * (TILE + 14)
        sheet.paste(image, (x, y))
        caption = (x + 2, y + image.height + 1)
        ImageDraw.Draw(sheet).text(caption, str(slice_name)[:40], fill=(230, 230, 230))
    sheet.save(args.out)
    classes = ", ".join(
        f"{c} {COLOURS[i % len(COLOURS)]}" for i, c in enumerate(deps.settings.classes)
    )
    print(f"{args.out}: {len(samples)} images of batch {batch.id} ({classes})")


if __name__ == "__main__":
    main()
