"""The benchmark's report: bench.md's tables and the two plots, read from bench.json's shape."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.bench_targets import HEADLINE_CYCLES, HEADLINE_GAIN, HEADLINE_IMAGES


def markdown(result: Mapping[str, Any]) -> str:
    arms = list(result["arms"])
    lines = [
        f"# failforge bench: budget {result['budget']}, {result['cycles']} cycles, "
        f"seeds {result['seeds']}",
        "",
        f"Worst baseline slices on `test`, fixed before the arms ran: "
        f"{', '.join(result['worst_slices'])}. Net gain = arm minus `none` on the same seed "
        "(the effect of the images, not of training longer), mean and 95% interval.",
        "",
        "| arm | net recall gain, worst two | net recall gain, loop's slices | "
        "net mAP50 gain | mAP50 | images per seed | wall s per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        block = result["arms"][arm]
        net = block.get("net_gain", {})
        lines.append(
            f"| {arm} | {_interval(net.get('worst2'))} | {_interval(net.get('loop_slices'))} | "
            f"{_interval(net.get('overall_map50'))} | {_f(block['overall']['map50'])} | "
            f"{np.mean(block['images']):.0f} | {_wall(block)} |"
        )
    if result.get("comparisons"):
        lines += [
            "",
            "| targeted minus | worst two | loop's slices | mAP50 |",
            "|---|---|---|---|",
        ]
        for name, block in result["comparisons"].items():
            lines.append(
                f"| {name.removeprefix('targeted_vs_')} | {_interval(block['worst2'])} | "
                f"{_interval(block['loop_slices'])} | {_interval(block['overall_map50'])} |"
            )
    lines += _early_stop_lines(result)
    lines += _candidate_lines(result)
    lines += _as_asked_lines(result)
    lines += _recall_lines(result)
    lines += _map_lines(result)
    lines += _target_lines(result.get("targets", {}))
    return "\n".join(lines) + "\n"


def _recall_lines(result: Mapping[str, Any]) -> list[str]:
    """Recall on `test` per slice: the baseline, and each arm with its gain over it."""
    arms = list(result["arms"])
    names = ["overall", *sorted(result["baseline"]["slices"])]
    lines: list[str] = []
    lines += [
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
    return lines


def _map_lines(result: Mapping[str, Any]) -> list[str]:
    """mAP50 and mAP50-95 on `test`, images and wall seconds: the baseline, then each arm."""
    arms = list(result["arms"])
    lines: list[str] = []
    lines += ["", "| arm | mAP50 | mAP50-95 | images | wall s |", "|---|---|---|---|---|"]
    lines.append(
        f"| baseline | {_f(result['baseline']['overall']['map50'])} | "
        f"{_f(result['baseline']['overall']['map50_95'])} | 0 | - |"
    )
    for arm in arms:
        block = result["arms"][arm]
        lines.append(
            f"| {arm} | {_f(block['overall']['map50'])}±{_f(block['overall']['map50_std'])} | "
            f"{_f(block['overall']['map50_95'])} | {block['images']} | {_wall(block)} |"
        )
    return lines


def _target_lines(measured: Mapping[str, Any]) -> list[str]:
    """One line per kind of model (gated, last candidate): the targeting targets' verdicts."""
    lines = []
    for kind in ("gated", "last_candidate"):
        if kind in measured:
            verdicts = ", ".join(_verdict(name, value) for name, value in measured[kind].items())
            lines.append(f"- {kind.replace('_', ' ')}: {verdicts}")
    out = ["", "Targets, net of `none` on the worst two:", "", *lines] if lines else []
    return out + _headline_lines(measured.get("headline"))


def _headline_lines(headline: Mapping[str, Any] | None) -> list[str]:
    """The headline: the worst slice's raw recall gain, judged only within its budget."""
    if not headline or "reached" not in headline:
        return []
    gains = headline["recall_gain"]
    verdicts = ", ".join(
        f"{arm} {_signed(gains[arm])}: {'met' if reached else 'missed'}"
        for arm, reached in headline["reached"].items()
    )
    return [
        "",
        f"Headline, `{headline['slice']}` recall up {HEADLINE_GAIN * 100:.0f} points within "
        f"{HEADLINE_CYCLES} cycles and {HEADLINE_IMAGES} images (gated model over the "
        f"baseline): {verdicts}.",
    ]


def _verdict(name: str, value: Any) -> str:
    if isinstance(value, dict):  # a claim judged on its interval over seeds
        return f"{name}: {claim_text(value)}"
    return f"{name} {value:.0%}" if name.startswith("share") else f"{name} {value:+.3f}"


def claim_text(claim: Mapping[str, Any]) -> str:
    """'met', 'missed' or 'undecided', with the interval and, if undecided, the seeds needed."""
    if claim.get("mean") is None:
        return str(claim["verdict"])
    return f"{claim['verdict']} ({_interval({**claim, 'verdict': None})}{_needed(claim)})"


def _needed(block: Mapping[str, Any]) -> str:
    if block.get("verdict") != "undecided" or not block.get("ci95"):
        return ""
    needed = block.get("seeds_to_decide")
    return f"; {needed} seeds would decide it" if needed else "; a mean of 0"


def _early_stop_lines(result: Mapping[str, Any]) -> list[str]:
    """One line per arm and seed whose loop stopped before the last cycle: its later cycles
    carry its last model, which is stated rather than passed off as measured cycles."""
    lines = []
    for arm, block in result["arms"].items():
        unknown = [None] * len(result["seeds"])  # a bench.json written before these were kept
        ran_per_seed = block.get("cycles_run", unknown)
        stops = zip(result["seeds"], ran_per_seed, block.get("stop_reasons", unknown), strict=True)
        for seed, ran, reason in stops:
            if ran is not None and ran < result["cycles"]:
                lines.append(
                    f"- `{arm}`, seed {seed}: stopped after {ran} of {result['cycles']} cycles "
                    f"({reason}); the later cycles carry its last model."
                )
    return ["", *lines] if lines else []


def _candidate_lines(result: Mapping[str, Any]) -> list[str]:
    """The last candidates' table: what each arm's images were worth, whatever the gate said."""
    arms = [a for a in result["arms"] if "candidate_net_gain" in result["arms"][a]]
    if not arms:
        return []
    comparisons = result.get("candidate_comparisons", {})
    lines = [
        "",
        "Last candidate, promoted or not (the model trained on all of the arm's images), net of "
        "`none`'s last candidate (fine-tuned as long on field data alone): what the images were "
        "worth, apart from the gate's yes or no.",
        "",
        "| arm | net recall gain, worst two | net mAP50 gain | targeted minus arm, worst two "
        "| candidate per seed |",
        "|---|---|---|---|---|",
    ]
    for arm in arms:
        block = result["arms"][arm]
        net = block["candidate_net_gain"]
        versus = comparisons.get(f"targeted_vs_{arm}", {}).get("worst2")
        lines.append(
            f"| {arm} | {_interval(net.get('worst2'))} | {_interval(net.get('overall_map50'))} "
            f"| {_interval(versus) if versus else '-'} | {', '.join(block['candidates'])} |"
        )
    return lines


def _as_asked_lines(result: Mapping[str, Any]) -> list[str]:
    checked = {
        a: b["requests"]
        for a, b in result["arms"].items()
        if b.get("requests", {}).get("as_asked") is not None
    }
    if not checked:
        return []
    lines = [
        "",
        "Images made as their request asked (conditions read back from pixels and boxes, or "
        "CLIP), and per condition the images per seed that came out otherwise:",
        "",
        "| arm | made as asked | came out otherwise |",
        "|---|---|---|",
    ]
    for arm, block in checked.items():
        otherwise = ", ".join(f"{k} {n:.0f}" for k, n in block["unmet_per_seed"].items())
        lines.append(f"| {arm} | {block['as_asked']:.0%} | {otherwise or '-'} |")
    return lines


def plots(result: Mapping[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gain_path = out / "gain_per_slice.png"
    _plot_net_gains(plt, result, gain_path)
    curve_path = out / "curves.png"
    _plot_curves(plt, result, curve_path)
    return [gain_path, curve_path]


def _plot_net_gains(plt: Any, result: Mapping[str, Any], path: Path) -> None:
    """Bars: each arm's recall gain net of `none` per slice, worst two and loop's slices."""
    arms = list(result["arms"])
    names = sorted(result["baseline"]["slices"])
    figure, axis = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(len(arms), 1)
    names = [*names, "worst2", "loop_slices"]
    for k, arm in enumerate(arms):
        net = result["arms"][arm].get("net_gain", {})
        # An unmeasured gain is no bar at all (NaN), not a bar of height 0.
        means = [nan_if_missing((net.get(n) or {}).get("mean")) for n in names]
        errors = np.array(
            [
                [m - ci[0], ci[1] - m] if (ci := (net.get(n) or {}).get("ci95")) else [0.0, 0.0]
                for m, n in zip(means, names, strict=True)
            ]
        ).T
        axis.bar(
            [i + k * width for i in range(len(names))],
            means,
            width,
            yerr=errors,
            capsize=2,
            label=arm,
        )
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks([i + 0.4 for i in range(len(names))], names, rotation=60)
    axis.set_ylabel("recall gain net of `none` (test), 95% interval")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _plot_curves(plt: Any, result: Mapping[str, Any], path: Path) -> None:
    """Lines per arm over the cycles: overall mAP50, and the worst two baseline slices' recall."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm in result["arms"]:
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
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _interval(block: Mapping[str, Any] | None) -> str:
    """Mean [95% interval], and 'undecided' where the interval holds 0, with the seeds needed."""
    if not block or block.get("mean") is None:
        return "-"
    ci = block.get("ci95")
    text = f"{block['mean']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
    needed = _needed(block)
    return text + (f" undecided ({needed.removeprefix('; ')})" if needed else "")


def _wall(block: Mapping[str, Any]) -> str:
    """An arm's wall seconds per seed; a resumed run's clock covers only its last part, so an
    arm whose every seed was resumed has none to show (bench.py leaves such runs out)."""
    seconds = block["timings"]["wall_seconds"]
    return "resumed" if seconds is None else f"{seconds:.0f}"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def nan_if_missing(value: float | None) -> float:
    """A missing figure stays missing in a plot (a gap), never a 0 that reads as a measurement."""
    return float("nan") if value is None else float(value)
