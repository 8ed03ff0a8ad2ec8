"""The loop report: markdown tables and PNG plots of slices, batches and promotions over cycles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.control.breakdown import FoundSlice, class_rows, found_slices, slice_rows
from agent.ports import Deps
from agent.state import LoopState
from agent.steps.counterfactuals import result_path
from agent.steps.failures import val_object_table
from agent.steps.predictions import predict_and_evaluate
from evaluation.bench_report import nan_if_missing
from evaluation.counterfactual import CounterfactualResult
from evaluation.metrics import DetectionMetrics, EvaluationResult
from tools.before_after import LEGEND


def ensure_test_metrics(deps: Deps, model: str) -> dict[str, Any]:
    """Test metrics of a model, computed once for reports (test never drives a decision)."""
    record = deps.registry.model(model)
    assert record is not None
    if "test" not in record.metrics:
        metrics = {
            **record.metrics,
            **predict_and_evaluate(
                deps, model, Path(record.path), ("test",), save_views=record.status == "incumbent"
            ),
        }
        deps.registry.set_model_status(model, record.status, record.reason, metrics=metrics)
        return metrics
    return dict(record.metrics)


def slice_table(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (slice, recall and mAP50 before and after) from two evaluation dumps."""
    rows = []
    names = ["overall", *sorted(before.get("slices", {}))]
    for name in names:
        b = before["overall"] if name == "overall" else before["slices"].get(name, {})
        a = after["overall"] if name == "overall" else after["slices"].get(name, {})
        rows.append(
            {
                "slice": name,
                "recall_before": b.get("recall"),
                "recall_after": a.get("recall"),
                "map50_before": b.get("map50"),
                "map50_after": a.get("map50"),
            }
        )
    return rows


def _save(figure: Any, path: Path) -> None:
    """Write a report figure and free it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def write_report(deps: Deps, state: LoopState | None) -> Path:
    """Write reports/report.md and its plots; returns the markdown path."""
    import matplotlib

    matplotlib.use("Agg")

    out = deps.workspace.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# failforge report", ""]
    lines += _models_section(deps)
    lines += _test_section(deps, out)
    lines += _batches_section(deps, out)
    if state is not None and state.history:
        lines += _cycles_section(state, out)
        lines += _checks_section(deps, state)
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _models_section(deps: Deps) -> list[str]:
    """Every model version with its parent, status and val mAP50."""
    models = deps.registry.models()
    lines: list[str] = []
    lines += [
        "## Models",
        "",
        "| model | parent | cycle | status | val mAP50 | reason |",
        "|---|---|---|---|---|---|",
    ]
    for m in models:
        val = EvaluationResult.recorded(m.metrics, "val")
        lines.append(
            f"| {m.name} | {m.parent or '-'} | {m.cycle} | {m.status} | "
            f"{_fmt(val.overall.map50 if val else None)} | {m.reason[:120]} |"
        )
    return lines


def model_rows(
    deps: Deps, model: str, evaluation: dict[str, Any], found: list[FoundSlice]
) -> dict[str, dict[str, Any]]:
    """A model's rows on test, in reading order: overall, each class, each world slice (the demo
    world's truth), each slice the loop found on val; each with its recall and mAP50 (or AP50)."""
    rows: dict[str, DetectionMetrics] = {"overall": DetectionMetrics(**evaluation["overall"])}
    table = val_object_table(deps, model, "test")
    rows.update(class_rows(deps, model, "test", table))
    for name in sorted(evaluation.get("slices", {})):
        rows[name] = DetectionMetrics(**evaluation["slices"][name])
    rows.update(slice_rows(deps, table, found))
    return {name: {"recall": m.recall, "map50": m.map50} for name, m in rows.items()}


def _test_section(deps: Deps, out: Path) -> list[str]:
    """Baseline against incumbent per test slice, and the per-slice plot of every promoted model."""
    import matplotlib.pyplot as plt

    models = deps.registry.models()
    incumbent = deps.registry.incumbent()
    lines: list[str] = []
    promoted = [m for m in models if m.status in ("incumbent", "retired")]
    chart_models = [m.name for m in promoted]
    test_metrics = {name: ensure_test_metrics(deps, name)["test"] for name in chart_models}
    if "v1" in test_metrics and incumbent is not None:
        found = found_slices(deps, incumbent.name)
        rows = {name: model_rows(deps, name, test_metrics[name], found) for name in chart_models}
        before, after = rows["v1"], rows[incumbent.name]
        lines += [
            "",
            f"## Test split: baseline v1 vs incumbent {incumbent.name}",
            "",
            "Per class, per world slice (demo world only) and per slice the loop found on val "
            "(the same attribute bins, measured on test).",
            "",
            "| slice | recall v1 | recall now | mAP50 v1 | mAP50 now |",
            "|---|---|---|---|---|",
        ]
        for name in before:
            lines.append(
                f"| {name} | {_fmt(before[name]['recall'])} | {_fmt(after[name]['recall'])} | "
                f"{_fmt(before[name]['map50'])} | {_fmt(after[name]['map50'])} |"
            )
        slices = list(before)
        figure, axes = plt.subplots(1, 2, figsize=(14, 5))
        for name in chart_models:
            recall = [nan_if_missing(rows[name].get(s, {}).get("recall")) for s in slices]
            map50 = [nan_if_missing(rows[name].get(s, {}).get("map50")) for s in slices]
            axes[0].plot(slices, recall, marker="o", label=name)
            axes[1].plot(slices, map50, marker="o", label=name)
        for axis, title in zip(
            axes, ("recall per slice (test)", "mAP50 per slice (test)"), strict=True
        ):
            axis.set_title(title)
            axis.tick_params(axis="x", rotation=60)
            axis.set_ylim(0, 1)
            axis.legend()
        _save(figure, out / "slices.png")
        lines += ["", "![per-slice recall and mAP50](slices.png)"]
    return lines


def _batches_section(deps: Deps, out: Path) -> list[str]:
    """Every batch with its decision and quality scores, and their plot."""
    import matplotlib.pyplot as plt

    lines: list[str] = []
    batches = deps.registry.batches()
    if batches:
        lines += [
            "",
            "## Batches",
            "",
            "| batch | cycle | status | images | unrealistic | "
            "unrepresentative | unvaried | unoriginal | decided by |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for b in batches:
            s = b.scores
            lines.append(
                f"| {b.id} | {b.cycle} | {b.status} | {b.image_count} | "
                f"{_fmt(s.get('unrealistic'))} | {_fmt(s.get('unrepresentative'))} | "
                f"{_fmt(s.get('unvaried'))} | {_fmt(s.get('unoriginal'))} | {b.decided_by or '-'} |"
            )
        figure, axis = plt.subplots(figsize=(10, 4))
        names = ["unrealistic", "unrepresentative", "unvaried", "unoriginal"]
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            axis.bar(
                [i + k * width for i in range(len(batches))],
                [nan_if_missing(b.scores.get(name)) for b in batches],
                width,
                label=name,
            )
        axis.set_xticks(
            [i + 0.4 for i in range(len(batches))], [b.id for b in batches], rotation=30
        )
        axis.set_ylim(0, 1)
        axis.set_title("batch quality scores (higher is worse)")
        axis.legend()
        _save(figure, out / "batches.png")
        lines += ["", "![batch scores](batches.png)"]
    return lines


def _cycles_section(state: LoopState, out: Path) -> list[str]:
    """Each cycle's batch, candidate and gate figures, and the promotions plot."""
    import matplotlib.pyplot as plt

    lines: list[str] = []
    lines += [
        "",
        "## Cycles",
        "",
        "| cycle | batch | images | candidate | promoted | objective (val) | mAP50 (val) | "
        "hypotheses (val recall) | why |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in state.history:
        lines.append(
            f"| {r.cycle} | {r.batch_id or '-'} | {r.images} | {r.candidate or '-'} | "
            f"{'yes' if r.promoted else 'no'} | {_fmt(r.objective_before)} -> "
            f"{_fmt(r.objective_after)} | {_fmt(r.map50_before)} -> {_fmt(r.map50_after)} | "
            f"{', '.join(f'{k}: {v}' for k, v in r.outcomes.items()) or '-'} | "
            f"{'; '.join(r.reasons)[:160]} |"
        )
    figure, axis = plt.subplots(figsize=(7, 4))
    cycles = [r.cycle for r in state.history if r.objective_before is not None]
    axis.plot(
        cycles,
        [r.objective_before for r in state.history if r.objective_before is not None],
        marker="o",
        label="incumbent",
    )
    axis.plot(
        cycles,
        [r.objective_after for r in state.history if r.objective_after is not None],
        marker="s",
        label="candidate",
    )
    for r in state.history:
        if r.promoted and r.objective_after is not None:
            axis.annotate("promoted", (r.cycle, r.objective_after))
    axis.set_xlabel("cycle")
    axis.set_ylabel("mean recall of target slices (val)")
    axis.legend()
    _save(figure, out / "promotions.png")
    lines += ["", "![promotions](promotions.png)"]
    if state.stop_reason:
        lines += ["", f"Loop stopped: {state.stop_reason}."]
    return lines


def _checks_section(deps: Deps, state: LoopState) -> list[str]:
    """Each cycle's hypotheses as checked on their misses before planning, beside what val
    recall said of them after the gate (the agreement the check is judged by)."""
    rows = []
    for record in state.history:
        path = result_path(deps, state.model_copy(update={"cycle": record.cycle}))
        if not path.exists():
            continue
        for line in CounterfactualResult.model_validate_json(path.read_text()).lines():
            after = record.outcomes.get(line.slice, "-")
            strip = _strip_image(deps, line.strip)
            rows.append(
                f"| {record.cycle} | {line.text()} | {line.hypothesis} | {after} | {strip} |"
            )
    if not rows:
        return []
    return [
        "",
        "## Hypotheses checked before planning",
        "",
        "Misses of each slice edited to remove the blamed factor, against a placebo edit of the "
        "same strength; the hypothesis' outcome after the gate beside it. Each strip shows a few "
        f"misses: {LEGEND}.",
        "",
        "| cycle | check (edit vs placebo, 95% CI) | hypothesis | after the gate (val recall) "
        "| before/after |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _strip_image(deps: Deps, strip: str | None) -> str:
    """A check's before/after strip as a markdown image, its path relative to the report."""
    if strip is None:
        return "-"
    relative = os.path.relpath(deps.workspace.root / strip, deps.workspace.reports_dir)
    return f"![before/after]({Path(relative).as_posix()})"
