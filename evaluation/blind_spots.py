"""Blind spots: image conditions the deployment shows that the field's `val` split hardly holds.

Discovery can only name a failure among objects it has; a condition seen in a third of the
deployment images and a few val images is a failure nobody can measure yet. Each image
attribute bin, and each pair of bins of two image attributes, is compared on images: its share
of the unlabelled deployment images against its share of the val images (object attributes,
class and size, are not seen on unlabelled images).
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, Field

from evaluation.slices import BIN_NAMES, ObjectTable, assign_bins, slice_mask


class BlindSpot(BaseModel):
    """An image condition common in deployment and rare (or absent) among val's objects."""

    name: str = Field(description="e.g. 'brightness=lowest & haze=highest'")
    conditions: dict[str, str]
    val_objects: int = Field(description="val objects in images of this condition")
    val_share: float = Field(description="share of val images in this condition")
    deployment_share: float = Field(description="share of deployment images in this condition")


def blind_spots(
    table: ObjectTable,
    edges: dict[str, list[float]],
    deployment: dict[str, np.ndarray],
    min_support: int = 20,
    ratio: float = 3.0,
    min_share: float = 0.05,
) -> list[BlindSpot]:
    """Bins and pairs of bins of the image attributes in `deployment` that hold at least
    `min_share` of the deployment images and either fewer than `min_support` val objects or a
    deployment share at least `ratio` times their val share; most under-covered first (by
    deployment share over val share, val share floored at one image). A pair is flagged only
    where neither of its bins is: the joint condition (dark and hazy) is what val lacks."""
    attributes = [name for name in deployment if name in edges and name in table.values]
    if not attributes or len(table.found) == 0:
        return []
    deploy_bins = {
        name: np.array(BIN_NAMES)[np.digitize(deployment[name], edges[name])] for name in attributes
    }
    bins = assign_bins(table, edges)
    # One row per val image (its objects share its image attributes): shares are of images.
    first = np.unique(np.asarray(table.sample_ids), return_index=True)[1]
    images = {name: bins[name][first] for name in attributes}
    singles = [(a, v) for a in attributes for v in BIN_NAMES]
    groups = [[s] for s in singles] + [
        [s, t] for s, t in itertools.combinations(singles, 2) if s[0] != t[0]
    ]
    found: list[BlindSpot] = []
    for group in groups:
        conditions = dict(group)
        if len(group) > 1 and any(b.conditions.items() <= conditions.items() for b in found):
            continue  # a pair inside a bin already flagged says nothing new
        deployment_share = float(slice_mask(deploy_bins, conditions).mean())
        if deployment_share < min_share:
            continue
        val_share = float(slice_mask(images, conditions).mean())
        val_objects = int(slice_mask(bins, conditions).sum())
        if val_objects >= min_support and deployment_share < ratio * val_share:
            continue
        found.append(
            BlindSpot(
                name=" & ".join(f"{a}={v}" for a, v in conditions.items()),
                conditions=conditions,
                val_objects=val_objects,
                val_share=val_share,
                deployment_share=deployment_share,
            )
        )
    floor = 1 / len(first)
    return sorted(found, key=lambda b: b.deployment_share / max(b.val_share, floor), reverse=True)
