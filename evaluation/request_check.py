"""Conditions read back from a generated image's pixels and boxes, against what its request asked."""

from __future__ import annotations

from evaluation.field_conditions import estimate_image_conditions
from tools.generator.check import CheckItem, RequestCheck


class ConditionReadBack:
    """The procedural generator's check: the same estimates the `generic` arm reads off field
    images (brightness, warmth, sharpness, specks, slant, box sizes, overlap) must give back the
    requested lighting, weather, distance and crowding.

    Counted, not dropped: the estimates themselves miss some images (see
    scripts/calibrate_field_conditions.py), and dropping would change what every arm trains on.
    """

    name = "read-back"
    drops = False

    def check(self, items: list[CheckItem]) -> list[RequestCheck]:
        checks = []
        for item in items:
            asked = {k: v for k, v in item.conditions.items() if v}
            if not asked:  # nothing was asked (a retrieved pool image): nothing to check
                checks.append(RequestCheck(score=0.0, as_asked=False, checked=False))
                continue
            measured = estimate_image_conditions(item.path, item.size, item.detections)
            unmet = sorted(k for k, v in asked.items() if measured.get(k) != v)
            checks.append(
                RequestCheck(score=1 - len(unmet) / len(asked), as_asked=not unmet, unmet=unmet)
            )
        return checks
