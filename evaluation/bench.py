"""Benchmark aggregation: per-arm means over seeds, gains net of `none` with 95% intervals.

Intervals: Student's t over the paired per-seed differences (arm minus `none`, or `targeted`
minus arm, on the same seed), never clamped (evaluation/intervals.py says why not a
bootstrap); each block keeps its differences, so a reader can recompute it, and says whether
the interval is above 0, below 0 or undecided, with the seeds that would decide it. One seed
gives a difference and no interval: one point has no spread over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evaluation.bench_targets import targets
from evaluation.intervals import seeds_to_decide, t_interval, verdict

METRICS = ("map50", "map50_95", "recall")


def _read(evaluation: Mapping[str, Any], slice_name: str) -> dict[str, float | None]:
    block = (
        evaluation["overall"]
        if slice_name == "overall"
        else evaluation["slices"].get(slice_name, {})
    )
    return {m: block.get(m) for m in METRICS}


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return float(np.mean(present)), float(np.std(present))


def summarise(block_per_seed: Sequence[Mapping[str, Any]], slices: Sequence[str]) -> dict[str, Any]:
    """{'overall': {...}, 'slices': {name: {...}}} with `<metric>` means and `<metric>_std`."""
    out: dict[str, Any] = {"slices": {}}
    for name in ["overall", *slices]:
        entry: dict[str, float | None] = {}
        for metric in METRICS:
            mean, std = _mean_std([_read(b, name)[metric] for b in block_per_seed])
            entry[metric], entry[f"{metric}_std"] = mean, std
        if name == "overall":
            out["overall"] = entry
        else:
            out["slices"][name] = entry
    return out


def aggregate(
    runs: Mapping[int, Mapping[str, Any]],
    arms: Sequence[str],
    budget: int,
    cycles: int,
    worst: Sequence[str],
    variants: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Combine per-seed runs into bench.json's shape (`variants`: the extra targeted arms and
    the settings each changes, judged against the headline like `targeted`).

    `runs[seed]` holds `baseline` (a test evaluation), and `arms[arm]` with `cycles` (a test
    evaluation after each cycle), `images` per cycle and `step_seconds`.
    """
    seeds = sorted(runs)
    slices = sorted(runs[seeds[0]]["baseline"]["slices"])
    baseline = summarise([runs[s]["baseline"] for s in seeds], slices)
    result: dict[str, Any] = {
        "seeds": seeds,
        "budget": budget,
        "cycles": cycles,
        "worst_slices": list(worst),
        "baseline": baseline,
        "arms": {},
        "variants": dict(variants or {}),
    }
    for arm in arms:
        result["arms"][arm] = _arm_summary(runs, seeds, arm, slices, cycles, baseline)
    result["worst_baseline_slices"] = list(worst)
    keys = gain_keys(slices)
    values = {arm: _values(runs, arm, slices, worst) for arm in arms}
    if "none" in arms:
        for arm in arms:
            result["arms"][arm]["net_gain"] = {
                key: paired_interval(values[arm][key], values["none"][key]) for key in keys
            }
    if "targeted" in arms:
        result["comparisons"] = {
            f"targeted_vs_{arm}": {
                key: paired_interval(values["targeted"][key], values[arm][key]) for key in keys
            }
            for arm in arms
            if arm != "targeted"
        }
    if "none" in arms and all("last_candidate" in runs[s]["arms"][a] for s in seeds for a in arms):
        _add_candidate_gains(result, runs, arms, slices, worst)
    result["targets"] = targets(result)
    return result


def _arm_summary(
    runs: Mapping[int, Mapping[str, Any]],
    seeds: list[int],
    arm: str,
    slices: list[str],
    cycles: int,
    baseline: dict[str, Any],
) -> dict[str, Any]:
    """One arm over the seeds: its final and per-cycle test metrics, gains over the baseline,
    images, cycles run, stop reasons, requests as asked and timings."""
    finals = [runs[s]["arms"][arm]["cycles"][-1] for s in seeds]
    summary = summarise(finals, slices)
    summary["per_cycle"] = [
        summarise([runs[s]["arms"][arm]["cycles"][c] for s in seeds], slices) for c in range(cycles)
    ]
    summary["gain"] = {
        name: {m: _gain(summary, baseline, name, m) for m in METRICS}
        for name in ["overall", *slices]
    }
    summary["images"] = [sum(runs[s]["arms"][arm]["images"]) for s in seeds]
    # None where the arm was measured before this was recorded.
    summary["cycles_run"] = [runs[s]["arms"][arm].get("cycles_run") for s in seeds]
    summary["stop_reasons"] = [runs[s]["arms"][arm].get("stop_reason") for s in seeds]
    summary["requests"] = _requests_as_asked([runs[s]["arms"][arm] for s in seeds])
    steps: dict[str, list[float]] = {}
    for s in seeds:
        for step, seconds in runs[s]["arms"][arm]["step_seconds"].items():
            steps.setdefault(step, []).append(seconds)
    summary["timings"] = {
        "step_seconds": {k: float(np.mean(v)) for k, v in steps.items()},
        # A resumed arm's clock missed the part before its kill: left out, and None if every
        # seed was (bench.json stays valid JSON, no NaN; bench.md says "resumed").
        "wall_seconds": float(np.mean(walls)) if (walls := _walls(runs, seeds, arm)) else None,
    }
    return summary


def _add_candidate_gains(
    result: dict[str, Any],
    runs: Mapping[int, Mapping[str, Any]],
    arms: Sequence[str],
    slices: Sequence[str],
    worst: Sequence[str],
) -> None:
    """`arms.<arm>.candidate_net_gain` and `candidate_comparisons`: the last candidates, net of
    `none`'s last candidate (fine-tuned as long on field data alone), whatever the gate said."""
    keys = [key for key in gain_keys(slices) if key != "loop_slices"]
    values = {arm: _values(runs, arm, slices, worst, candidate=True) for arm in arms}
    for arm in arms:
        result["arms"][arm]["candidate_net_gain"] = {
            key: paired_interval(values[arm][key], values["none"][key]) for key in keys
        }
        result["arms"][arm]["candidates"] = [
            runs[s]["arms"][arm]["last_candidate"]["model"] for s in sorted(runs)
        ]
    if "targeted" in arms:
        result["candidate_comparisons"] = {
            f"targeted_vs_{arm}": {
                key: paired_interval(values["targeted"][key], values[arm][key]) for key in keys
            }
            for arm in arms
            if arm != "targeted"
        }


def gain_keys(slices: Sequence[str]) -> list[str]:
    """The keys of every gain and comparison: world slices, the two worst, loop slices, mAP50."""
    return [*slices, "worst2", "loop_slices", "overall_map50"]


# One measurement of one arm on one seed: the value and, for recalls, the objects behind it.
Measured = tuple[float | None, int | None]


def _values(
    runs: Mapping[int, Mapping[str, Any]],
    arm: str,
    slices: Sequence[str],
    worst: Sequence[str],
    candidate: bool = False,
) -> dict[str, list[Measured]]:
    """Per key, the arm's final value on each seed (in seed order): of the gated incumbent, or
    with `candidate` of the last candidate, promoted or not (no loop slices measured for it)."""
    out: dict[str, list[Measured]] = {key: [] for key in gain_keys(slices)}
    for seed in sorted(runs):
        run = runs[seed]["arms"][arm]
        final = run["last_candidate"]["test"] if candidate else run["cycles"][-1]
        for name in slices:
            block = final["slices"].get(name, {})
            out[name].append((block.get("recall"), block.get("objects")))
        worst_blocks = [final["slices"].get(w, {}) for w in worst]
        recalls = [b.get("recall") for b in worst_blocks]
        objects = [b.get("objects") or 0 for b in worst_blocks]
        out["worst2"].append(
            (float(np.mean(recalls)), int(sum(objects)))
            if recalls and all(r is not None for r in recalls)
            else (None, None)
        )
        loop = {} if candidate else runs[seed].get("loop_slices", {}).get(arm, {})
        out["loop_slices"].append((loop.get("recall"), loop.get("objects")))
        out["overall_map50"].append((final["overall"].get("map50"), None))
    return out


def paired_interval(ours: Sequence[Measured], theirs: Sequence[Measured]) -> dict[str, Any]:
    """Mean of the per-seed differences `ours - theirs`, its 95% t-interval (`ci95`, None with
    one seed), the `differences` in seed order (None where either side was not measured: left
    out, not counted as 0), the `verdict` and, if undecided, `seeds_to_decide` (see module)."""
    differences = [
        None if a is None or b is None else a - b
        for (a, _), (b, _) in zip(ours, theirs, strict=True)
    ]
    return interval_block(differences)


def interval_block(differences: Sequence[float | None]) -> dict[str, Any]:
    """bench.json's block for per-seed `differences` (None: that seed was not measured)."""
    present = [d for d in differences if d is not None]
    if not present:
        return {
            "mean": None,
            "ci95": None,
            "differences": list(differences),
            "verdict": "undecided",
        }
    interval = t_interval(present)
    decided = verdict(interval)
    return {
        "mean": interval.mean,
        "ci95": None if interval.low is None else [interval.low, interval.high],
        "differences": list(differences),
        "verdict": decided,
        "seeds_to_decide": seeds_to_decide(present) if decided == "undecided" else None,
    }


def oracle_targets(baseline: Mapping[str, Any], slices: Sequence[str]) -> dict[str, float]:
    """The oracle arm's targets: the pre-registered worst `slices` with their recall deficits on
    this seed's baseline `test` (read from world truth, so only the benchmark may call this).

    Aimed at exactly the slices the benchmark scores: an oracle told the seed's three worst
    slices spent a third of its budget on a slice nobody measured (dusk) and fell below the
    loop's own aim, so it bounded nothing."""
    overall = baseline["overall"]["recall"] or 0.0
    deficits = {}
    for name in slices:
        recall = baseline["slices"].get(name, {}).get("recall")
        if recall is not None:
            deficits[name] = float(max(overall - recall, 0.0))
    return deficits


def _gain(
    summary: Mapping[str, Any], baseline: Mapping[str, Any], name: str, metric: str
) -> float | None:
    now = summary["overall"] if name == "overall" else summary["slices"][name]
    then = baseline["overall"] if name == "overall" else baseline["slices"][name]
    if now[metric] is None or then[metric] is None:
        return None
    return float(now[metric] - then[metric])


def worst_slices(baselines: Mapping[int, Mapping[str, Any]], count: int) -> list[str]:
    """The `count` world slices with the lowest baseline recall on `test`, averaged over seeds."""
    names = sorted(next(iter(baselines.values()))["slices"])
    recalls = {
        name: np.mean(
            [
                b["slices"][name]["recall"]
                for b in baselines.values()
                if b["slices"].get(name, {}).get("recall") is not None
            ]
            or [np.inf]
        )
        for name in names
    }
    return sorted(names, key=lambda name: (recalls[name], name))[:count]


def _requests_as_asked(arm_runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Over an arm's batches (every seed): the mean share of images made as their request
    asked, and per condition the images per seed that came out otherwise."""
    batches = [
        b for run in arm_runs for b in run.get("batches", []) if b.get("as_asked") is not None
    ]
    unmet: dict[str, float] = {}
    for batch in batches:
        for name, count in batch.get("unmet", {}).items():
            unmet[name] = unmet.get(name, 0.0) + count / len(arm_runs)
    return {
        "as_asked": float(np.mean([b["as_asked"] for b in batches])) if batches else None,
        "unmet_per_seed": dict(sorted(unmet.items())),
    }


def _walls(runs: Mapping[int, Mapping[str, Any]], seeds: Sequence[int], arm: str) -> list[float]:
    return [
        runs[s]["arms"][arm]["seconds"] for s in seeds if not runs[s]["arms"][arm].get("resumed")
    ]
