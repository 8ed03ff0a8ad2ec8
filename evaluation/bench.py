"""Benchmark aggregation: per-arm means and spreads over seeds, gains over the baseline, tables and plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    runs: Mapping[int, Mapping[str, Any]], arms: Sequence[str], budget: int, cycles: int
) -> dict[str, Any]:
    """Combine per-seed runs into bench.json's shape.

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
        "baseline": baseline,
        "arms": {},
    }
    for arm in arms:
        finals = [runs[s]["arms"][arm]["cycles"][-1] for s in seeds]
        summary = summarise(finals, slices)
        summary["per_cycle"] = [
            summarise([runs[s]["arms"][arm]["cycles"][c] for s in seeds], slices)
            for c in range(cycles)
        ]
        summary["gain"] = {
            name: {m: _gain(summary, baseline, name, m) for m in METRICS}
            for name in ["overall", *slices]
        }
        summary["images"] = [sum(runs[s]["arms"][arm]["images"]) for s in seeds]
        steps: dict[str, list[float]] = {}
        for s in seeds:
            for step, seconds in runs[s]["arms"][arm]["step_seconds"].items():
                steps.setdefault(step, []).append(seconds)
        summary["timings"] = {
            "step_seconds": {k: float(np.mean(v)) for k, v in steps.items()},
            "wall_seconds": float(np.mean([runs[s]["arms"][arm]["seconds"] for s in seeds])),
        }
        result["arms"][arm] = summary
    result["worst_baseline_slices"] = worst_slices(baseline, 2)
    result["targets"] = targets(result)
    return result


def _gain(
    summary: Mapping[str, Any], baseline: Mapping[str, Any], name: str, metric: str
) -> float | None:
    now = summary["overall"] if name == "overall" else summary["slices"][name]
    then = baseline["overall"] if name == "overall" else baseline["slices"][name]
    if now[metric] is None or then[metric] is None:
        return None
    return float(now[metric] - then[metric])


def worst_slices(baseline: Mapping[str, Any], count: int) -> list[str]:
    ranked = sorted(
        (v["recall"], k) for k, v in baseline["slices"].items() if v["recall"] is not None
    )
    return [k for _, k in ranked[:count]]


def targets(result: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's targets, measured: gains on the two worst baseline slices, mAP50 vs `none`."""
    worst = result["worst_baseline_slices"]
    gains = {
        arm: float(np.mean([s["gain"][w]["recall"] or 0.0 for w in worst]))
        for arm, s in result["arms"].items()
    }
    out: dict[str, Any] = {"worst_slice_recall_gain": gains}
    if {"targeted", "untargeted"} <= set(gains):
        out["targeted_at_least_twice_untargeted"] = gains["targeted"] >= 2 * gains["untargeted"]
    if {"targeted", "retrieval"} <= set(gains):
        out["targeted_above_retrieval"] = gains["targeted"] > gains["retrieval"]
    arms = result["arms"]
    if {"targeted", "none"} <= set(arms):
        drop = (arms["none"]["overall"]["map50"] or 0) - (arms["targeted"]["overall"]["map50"] or 0)
        out["targeted_map50_below_none_by"] = float(drop)
        out["targeted_map50_within_0.01_of_none"] = drop <= 0.01
    return out


def markdown(result: Mapping[str, Any]) -> str:
    arms = list(result["arms"])
    names = ["overall", *sorted(result["baseline"]["slices"])]
    lines = [
        f"# failforge bench: budget {result['budget']}, {result['cycles']} cycles, "
        f"seeds {result['seeds']}",
        "",
        "Recall on `test` (mean ± std over seeds); gain over the baseline in brackets.",
        "",
        "| slice | baseline | " + " | ".join(arms) + " |",
        "|---|---|" + "---|" * len(arms),
    ]
    for name in names:
        base = result["baseline"]["overall" if name == "overall" else "slices"]
        base = base if name == "overall" else base[name]
        cells = []
        for arm in arms:
            block = result["arms"][arm]
            now = block["overall"] if name == "overall" else block["slices"][name]
            gain = block["gain"][name]["recall"]
            cells.append(f"{_f(now['recall'])}±{_f(now['recall_std'])} ({_signed(gain)})")
        lines.append(f"| {name} | {_f(base['recall'])} | " + " | ".join(cells) + " |")
    lines += ["", "| arm | mAP50 | mAP50-95 | images | wall s |", "|---|---|---|---|---|"]
    lines.append(
        f"| baseline | {_f(result['baseline']['overall']['map50'])} | "
        f"{_f(result['baseline']['overall']['map50_95'])} | 0 | - |"
    )
    for arm in arms:
        block = result["arms"][arm]
        lines.append(
            f"| {arm} | {_f(block['overall']['map50'])}±{_f(block['overall']['map50_std'])} | "
            f"{_f(block['overall']['map50_95'])} | {block['images']} | "
            f"{block['timings']['wall_seconds']:.0f} |"
        )
    lines += ["", "Targets: " + ", ".join(f"{k}: {v}" for k, v in result["targets"].items())]
    return "\n".join(lines) + "\n"


def plots(result: Mapping[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(result["arms"])
    names = sorted(result["baseline"]["slices"])
    figure, axis = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(len(arms), 1)
    for k, arm in enumerate(arms):
        gains = [result["arms"][arm]["gain"][n]["recall"] or 0 for n in names]
        axis.bar([i + k * width for i in range(len(names))], gains, width, label=arm)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks([i + 0.4 for i in range(len(names))], names, rotation=60)
    axis.set_ylabel("recall gain over baseline (test)")
    axis.legend()
    figure.tight_layout()
    gain_path = out / "gain_per_slice.png"
    figure.savefig(gain_path, dpi=90)
    plt.close(figure)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm in arms:
        per_cycle = result["arms"][arm]["per_cycle"]
        cycles = list(range(0, len(per_cycle) + 1))
        worst = result["worst_baseline_slices"]
        axes[0].plot(
            cycles,
            [result["baseline"]["overall"]["map50"]] + [c["overall"]["map50"] for c in per_cycle],
            marker="o",
            label=arm,
        )
        axes[1].plot(
            cycles,
            [np.mean([result["baseline"]["slices"][w]["recall"] for w in worst])]
            + [np.mean([c["slices"][w]["recall"] for w in worst]) for c in per_cycle],
            marker="o",
            label=arm,
        )
    axes[0].set_title("overall mAP50 (test)")
    axes[1].set_title("recall of the two worst baseline slices (test)")
    for axis in axes:
        axis.set_xlabel("cycle")
        axis.legend()
    figure.tight_layout()
    curve_path = out / "curves.png"
    figure.savefig(curve_path, dpi=90)
    plt.close(figure)
    return [gain_path, curve_path]


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
