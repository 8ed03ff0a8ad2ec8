"""The targeting claim judged across drawn worlds: net gains on each world's two worst slices, an
interval over worlds, and the share of worlds where `targeted` beats `uniform`.

Each world ran one seed, so a world is one paired observation: its arm's net gain (arm minus
`none` on its two worst baseline `test` slices, pre-registered before its arms ran) and the
difference `arm - uniform` on the same world. Intervals are Student's t over those per-world
values (`evaluation.intervals`); worlds are the units, so the interval speaks for the drawn
distribution of worlds, not for any one of them. A variant (bench's `--variant`: targeted with
some settings changed) is also compared with `targeted`, the difference its lever made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.intervals import Interval, t_interval, verdict

# Where bench.json keeps each kind of model's gains net of `none`.
KINDS = {"gated": "net_gain", "last_candidate": "candidate_net_gain"}
# The targets: at least this many worlds, and targeted ahead on this share of them.
MIN_WORLDS = 8
AHEAD_SHARE = 0.75  # 6 of 8


def net_gain(result: Mapping[str, Any], arm: str, kind: str) -> float | None:
    """A world's net gain of `arm` on its worst two (one seed: the single paired difference)."""
    block = result.get("arms", {}).get(arm, {}).get(KINDS[kind], {}).get("worst2") or {}
    value = block.get("mean")
    return None if value is None else float(value)


def summarise_sweep(
    results: Mapping[str, Mapping[str, Any]],
    rare: Mapping[str, Sequence[str]] | None = None,
    reference: str = "uniform",
) -> dict[str, Any]:
    """sweep.json's summary from each world's bench.json (`results[name]`); `rare` names each
    world's field values drawn rare. Every arm but `none` and `reference` is compared with
    `reference` world by world, and every variant (bench.json's `variants`) with `targeted`
    too: a variant changes targeted's settings, so that difference is its lever's (unless the
    variant sets `loop.strategy` itself)."""
    names = list(results)
    arms = sorted({arm for r in results.values() for arm in r.get("arms", {})})
    per_world: dict[str, Any] = {}
    for name, result in results.items():
        per_world[name] = {
            "worst_slices": list(result.get("worst_slices", [])),
            "rare_in_field": list((rare or {}).get(name, [])),
            **{kind: {arm: net_gain(result, arm, kind) for arm in arms} for kind in KINDS},
        }
    summary: dict[str, Any] = {"worlds": names, "per_world": per_world, "arms": {}}
    for arm in arms:
        if arm == "none":
            continue
        summary["arms"][arm] = {
            kind: _over_worlds([per_world[n][kind][arm] for n in names]) for kind in KINDS
        }
    variants = sorted({name for r in results.values() for name in r.get("variants") or {}})
    pairs = [(arm, reference) for arm in arms if arm not in ("none", reference)]
    pairs += [(arm, "targeted") for arm in variants if arm in arms and reference != "targeted"]
    summary["versus"] = {}
    for arm, other in pairs:
        if other not in arms:
            continue
        summary["versus"][f"{arm}_vs_{other}"] = {
            kind: _comparison(
                [per_world[n][kind][arm] for n in names],
                [per_world[n][kind][other] for n in names],
            )
            for kind in KINDS
        }
    summary["targets"] = _targets(summary, reference)
    return summary


def _over_worlds(values: Sequence[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if not present:
        return {"worlds": 0, "mean": None, "ci95": None}
    return _interval(t_interval(present)) | {"worlds": len(present)}


def _comparison(ours: Sequence[float | None], theirs: Sequence[float | None]) -> dict[str, Any]:
    """Per world `ours - theirs` (worlds where either is missing left out), their mean with an
    interval over worlds, and on how many worlds `ours` was ahead."""
    differences = [
        a - b for a, b in zip(ours, theirs, strict=True) if a is not None and b is not None
    ]
    if not differences:
        return {"worlds": 0, "mean": None, "ci95": None, "ahead": 0, "ahead_share": None}
    interval = t_interval(differences)
    ahead = sum(d > 0 for d in differences)
    return _interval(interval) | {
        "worlds": len(differences),
        "ahead": ahead,
        "ahead_share": ahead / len(differences),
        "verdict": verdict(interval),
    }


def _interval(interval: Interval) -> dict[str, Any]:
    spread = (
        None if interval.low is None or interval.high is None else [interval.low, interval.high]
    )
    return {"mean": interval.mean, "ci95": spread}


def _targets(summary: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """Per kind of model, for `targeted` against `reference`: enough worlds, the mean difference's
    interval above 0, and targeted ahead on at least AHEAD_SHARE of the worlds."""
    block = summary["versus"].get(f"targeted_vs_{reference}")
    if block is None:
        return {}
    out: dict[str, Any] = {}
    for kind, comparison in block.items():
        if not comparison["worlds"]:
            continue
        ci = comparison["ci95"]
        out[kind] = {
            "worlds": comparison["worlds"],
            "enough_worlds": comparison["worlds"] >= MIN_WORLDS,
            "mean_difference": comparison["mean"],
            "interval_above_0": ci is not None and ci[0] > 0,
            "ahead": f"{comparison['ahead']} of {comparison['worlds']}",
            "ahead_enough": comparison["ahead_share"] >= AHEAD_SHARE,
        }
    return out


def markdown(summary: Mapping[str, Any], header: str) -> str:
    """sweep.md: per world the net gains on its worst two, then the claim across worlds."""
    arms = [a for a in summary["arms"]]
    lines = [
        f"# {header}",
        "",
        "Net gain = arm minus `none` on the world's two worst baseline `test` slices (fixed "
        "before its arms ran), one seed per world; gated models / last candidates.",
        "",
        "| world | worst two | rare in field | " + " | ".join(arms) + " |",
        "|---|---|---|" + "---|" * len(arms),
    ]
    for name, world in summary["per_world"].items():
        cells = [
            f"{_f(world['gated'].get(a))} / {_f(world['last_candidate'].get(a))}" for a in arms
        ]
        lines.append(
            f"| {name} | {', '.join(world['worst_slices'])} | "
            f"{', '.join(world['rare_in_field']) or '-'} | " + " | ".join(cells) + " |"
        )
    lines += ["", "Across worlds: mean with a 95% t-interval over worlds.", ""]
    lines += ["| | gated | last candidates |", "|---|---|---|"]
    for arm, block in summary["arms"].items():
        lines.append(
            f"| {arm}, net of none | {_ci(block['gated'])} | {_ci(block['last_candidate'])} |"
        )
    for name, block in summary["versus"].items():
        lines.append(
            f"| {name.replace('_vs_', ' minus ')} | {_ci(block['gated'])}, ahead on "
            f"{block['gated']['ahead']} of {block['gated']['worlds']} | "
            f"{_ci(block['last_candidate'])}, ahead on {block['last_candidate']['ahead']} of "
            f"{block['last_candidate']['worlds']} |"
        )
    for kind, target in summary.get("targets", {}).items():
        lines.append(
            f"\nTarget ({kind}): {target['worlds']} worlds (at least {MIN_WORLDS}: "
            f"{'met' if target['enough_worlds'] else 'not met'}); interval above 0: "
            f"{'met' if target['interval_above_0'] else 'not met'}; targeted ahead on "
            f"{target['ahead']} ({'met' if target['ahead_enough'] else 'not met'})."
        )
    return "\n".join(lines) + "\n"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _ci(block: Mapping[str, Any]) -> str:
    if block.get("mean") is None:
        return "-"
    ci = block.get("ci95")
    spread = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else " (one world: no interval)"
    return f"{block['mean']:+.3f}{spread}"
