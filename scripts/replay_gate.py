"""Replay the promotion gate on a benchmark's candidates: today's rule against the evidence rule.

For every candidate a benchmark trained (every arm, seed and cycle under each `OUT`), the gate
is decided again from the stored val predictions: by the workspace's own rule (today's
default, the fixed margins), by the margin rule with per-slice confidence bounds, and by the
evidence rule (`gate.rule: evidence`) and by the non-inferiority rule (`gate.rule: noninferior`,
column `noninf`: held only on evidence of harm), each on the cycle's targets; and by the margin
and the evidence rule on the worst val slices (`gate.objective: worst`: the union of the incumbent's
and the candidate's `gate.worst_slices` worst single slices with `loop.min_support` objects,
columns `worst` and `ev.worst`), and by the margin, evidence and non-inferiority rules on val
weighted to the deployment (`gate.objective: deployment`, columns `deploy`, `ev.deploy`,
`ni.deploy`; only where the workspace has `loop.deploy_images`: a sweep's arms get theirs from
the environment, so replay a sweep with FAILFORGE_LOOP__DEPLOY_IMAGES=../deploy), from the
same stored scorecards. Each decision is graded on
`test`: a candidate is
better than its incumbent when the recall of the benchmark's two pre-registered worst slices
rose and overall mAP50 fell by no more than 0.01. `test` never drives a decision in the
product; here it only grades them. A false hold is a better candidate not promoted; a false
promotion, a candidate not better that was promoted.

The runs followed the gate they were run with, so each candidate is judged against the
incumbent it really had. The evidence rule's carry is replayed where the history allows it
(for each objective apart): a candidate it carries is promoted with the next one when the next
stored candidate has the same incumbent and both are better on val (the evidence rule's
two-cycle rule); otherwise a carried candidate counts as held.

    .venv/bin/python scripts/replay_gate.py runs/default runs/rare-far-fog [--arms a,b]
    .venv/bin/python scripts/replay_gate.py sweep/world*     # a sweep: each world in a child
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RULES = (
    "today",
    "bound",
    "evidence",
    "noninferior",
    "worst",
    "evidence_worst",
    "deployment",
    "evidence_deployment",
    "noninferior_deployment",
)
# The evidence rules, each with its own carry: the objective each judges on.
EVIDENCE = {"evidence": "targets", "evidence_worst": "worst", "evidence_deployment": "deployment"}
# The rules judged on val weighted to the deployment: None where no deployment images.
DEPLOYMENT_RULES = ("deployment", "evidence_deployment", "noninferior_deployment")


def worst2(test: dict[str, Any], worst: list[str]) -> float | None:
    recalls = [test["slices"].get(name, {}).get("recall") for name in worst]
    return float(np.mean(recalls)) if all(r is not None for r in recalls) else None


def better_on_test(worst2_gain: float | None, map50_gain: float) -> bool | None:
    """The replay's grade: worst two up and mAP50 not down by more than 0.01 (None: unknown)."""
    if worst2_gain is None:
        return None
    return worst2_gain > 0 and map50_gain >= -0.01


def replay_arm(folder: Path, worst: list[str], confidence: float) -> list[dict[str, Any]]:
    """One row per candidate of the arm's loop: each rule's verdict and the test outcome."""
    from agent.bootstrap import build_deps
    from agent.control.runner import LoopDriver
    from agent.settings import Settings

    deps = build_deps(Settings.load(folder))
    current = LoopDriver(deps).current()
    loop_id = current.loop_id if current else None
    state = current.state if current else None
    rows: list[dict[str, Any]] = []
    carried: dict[str, tuple[str, str]] = {}  # per evidence rule: carried (candidate, incumbent)
    for record in state.history if state else []:
        if record.candidate:
            assert loop_id is not None
            row, carried = replay_candidate(
                deps, f"{loop_id}/c{record.cycle}/r0", record, worst, confidence, carried
            )
            rows.append(
                {
                    "world": folder.parent.parent.name,
                    "seed": folder.parent.name,
                    "arm": folder.name,
                    **row,
                }
            )
    return rows


def replay_candidate(
    deps: Any,
    key: str,
    record: Any,
    worst: list[str],
    confidence: float,
    carried: dict[str, tuple[str, str]],
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """One candidate judged by each rule against its incumbent on the cycle's own targets and
    guards (read back from the stored discovery), or on the worst val slices, graded on test;
    and what each evidence rule carries to the next candidate."""
    from agent.results import Discovery
    from agent.steps.condition_reads import deployment_weighting
    from agent.steps.failures import ensure_val_predictions, val_object_table
    from agent.steps.judging import CandidateJudge
    from agent.steps.training import scorecard
    from evaluation.gate import ModelScorecard, gate
    from evaluation.scorecards import named_slices, single_slices

    settings = deps.settings.gate
    candidate = deps.registry.model(record.candidate)
    assert candidate is not None and candidate.parent is not None
    discovery = Discovery.model_validate(deps.registry.step_result(f"{key}/discover_failures"))
    targets = [s.name for s in discovery.slices if s.name in record.targets]
    conditions = {s.name: s.conditions for s in discovery.slices if s.name in targets}
    incumbent_table = val_object_table(deps, candidate.parent)
    guarded = single_slices(incumbent_table, discovery.edges)
    limits = settings.guarded_slices
    slices = {**conditions, **guarded, **named_slices(incumbent_table, limits)}
    weighting = (
        deployment_weighting(deps, candidate.parent) if deps.settings.loop.deploy_images else None
    )
    prevalence = weighting.used() if weighting is not None else {}

    def card(model: str) -> ModelScorecard:
        ensure_val_predictions(deps, model)
        table = val_object_table(deps, model)
        return scorecard(deps, model, table, discovery.edges, slices, weighting)

    before, after = card(candidate.parent), card(candidate.name)

    def judge(rule: str, objective: str) -> CandidateJudge:
        level = settings.confidence or confidence if rule != "margin" else settings.confidence
        update = {"rule": rule, "objective": objective, "confidence": level}
        as_set = settings.model_copy(update=update)
        support = deps.settings.loop.min_support
        return CandidateJudge(as_set, support, before, targets, [*guarded], prevalence)

    verdicts, carries = {}, {}
    for name, objective in EVIDENCE.items():
        if objective == "deployment" and weighting is None:
            continue
        again = None
        if name in carried and carried[name][1] == candidate.parent:
            again = (carried[name][0], judge("evidence", objective)(card(carried[name][0])))
        verdicts[name] = judge("evidence", objective)(after, again)
        if verdicts[name].carried:
            carries[name] = (candidate.name, candidate.parent)
    guard = {k: v for k, v in before.slice_recall.items() if k in guarded}
    margins = (settings.min_gain, settings.max_map_drop, settings.max_slice_drop)
    bound = gate(before, after, targets, *margins, guard, confidence, limits)
    noninferior = judge("noninferior", "targets")(after)
    deployed = {name: None for name in DEPLOYMENT_RULES}
    if weighting is not None:
        deployed["deployment"] = judge("margin", "deployment")(after).promote
        deployed["noninferior_deployment"] = judge("noninferior", "deployment")(after).promote
    row = {
        "cycle": record.cycle,
        "today": judge("margin", "targets")(after).promote,
        "bound": bound.promote,
        "noninferior": noninferior.promote,
        "noninferior_line": noninferior.evidence,
        "worst": judge("margin", "worst")(after).promote,
        **deployed,
        **{name: verdict.promote for name, verdict in verdicts.items()},
        **{f"{name}_carried": verdict.carried for name, verdict in verdicts.items()},
        **{f"{name}_line": verdict.evidence for name, verdict in verdicts.items()},
        **test_grade(deps, candidate.parent, candidate.name, worst),
    }
    return row, carries


def test_grade(deps: Any, incumbent: str, candidate: str, worst: list[str]) -> dict[str, Any]:
    """The candidate against its incumbent on test: the gain on the benchmark's worst slices,
    on mAP50, and whether it is better (the grade, never a decision)."""
    from agent.control.report import ensure_test_metrics

    test_before = ensure_test_metrics(deps, incumbent)["test"]
    test_after = ensure_test_metrics(deps, candidate)["test"]
    w_before, w_after = worst2(test_before, worst), worst2(test_after, worst)
    map50_gain = test_after["overall"]["map50"] - test_before["overall"]["map50"]
    worst2_gain = None if w_before is None or w_after is None else w_after - w_before
    return {
        "test_worst2_gain": worst2_gain,
        "test_map50_gain": map50_gain,
        "better": better_on_test(worst2_gain, map50_gain),
    }


def summary(rows: Sequence[dict[str, Any]], rule: str) -> dict[str, Any]:
    """A rule's record over graded rows: candidates better on test, those it held back (false
    holds, and their share of the better ones), and those it promoted that were not better; and
    in test recall of the worst two, summed over candidates: what its promotions shipped, what
    its false promotions lost, what its false holds forgave (a count weighs a -0.005 promotion
    like a +0.13 hold; the sums do not). Rows the rule could not judge (a deployment rule
    without deployment images, or a row stored before the rule existed) are left out."""
    graded = [r for r in rows if r["better"] is not None and r.get(rule) is not None]
    better = [r for r in graded if r["better"]]
    false_holds = sum(not r[rule] for r in better)
    promoted = [r for r in graded if r[rule]]
    return {
        "rule": rule,
        "graded": len(graded),
        "better": len(better),
        "promoted": len(promoted),
        "false_holds": false_holds,
        "false_hold_share": false_holds / len(better) if better else None,
        "false_promotions": sum(not r["better"] for r in promoted),
        "shipped": sum(r["test_worst2_gain"] for r in promoted),
        "lost": sum(r["test_worst2_gain"] for r in promoted if not r["better"]),
        "forgone": sum(r["test_worst2_gain"] for r in better if not r[rule]),
    }


def summary_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The side-by-side table of the rules' false holds and false promotions, and the test
    recall (worst two, summed over candidates) each rule shipped, lost and forwent."""
    lines = [
        "| rule | candidates graded | better on test | promoted | false holds | "
        "false promotions | worst two shipped | lost by false promotions | forgone by false holds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        s = summary(rows, rule)
        share = "-" if s["false_hold_share"] is None else f"{s['false_hold_share']:.0%}"
        lines.append(
            f"| {rule} | {s['graded']} | {s['better']} | {s['promoted']} | "
            f"{s['false_holds']} ({share} of the better) | {s['false_promotions']} | "
            f"{s['shipped']:+.3f} | {s['lost']:+.3f} | {s['forgone']:+.3f} |"
        )
    return lines


def replay_bench(
    out: Path, arms: set[str] | None, seeds: list[str] | None, confidence: float
) -> list[dict[str, Any]]:
    """The rows of one benchmark folder: every candidate of every arm but `none`."""
    worst = json.loads((out / "bench.json").read_text())["worst_slices"]
    rows = []
    for seed_dir in sorted(out.glob("seed*")):
        if seeds and seed_dir.name not in seeds:
            continue
        for folder in sorted(p for p in seed_dir.iterdir() if (p / "arm.json").is_file()):
            if (arms and folder.name not in arms) or folder.name == "none":
                continue
            rows += replay_arm(folder, worst, confidence)
    return rows


def replay_in_child(out: Path, options: Sequence[str]) -> list[dict[str, Any]]:
    """`out`'s rows from this script run on it alone with `options`, in a child."""
    with tempfile.TemporaryDirectory() as scratch:
        rows_file = Path(scratch) / "rows.json"
        command = [sys.executable, __file__, str(out), *options, "--json", str(rows_file)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return list(json.loads(rows_file.read_text()))


def child_options(args: argparse.Namespace) -> list[str]:
    """The options a child replays one folder with: the user's, but not where rows are written."""
    options = ["--confidence", str(args.confidence)]
    for name in ("arms", "seeds"):
        if getattr(args, name):
            options += [f"--{name}", getattr(args, name)]
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, nargs="+", help="benchmark folders (with bench.json)")
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--arms", default=None, help="comma-separated arm folders (default all)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default all)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here too")
    args = parser.parse_args()
    arms = set(args.arms.split(",")) if args.arms else None
    seeds = [f"seed{s}" for s in args.seeds.split(",")] if args.seeds else None
    for out in args.out:
        if not (out / "bench.json").is_file():
            raise SystemExit(f"{out} holds no bench.json: give the folder a benchmark wrote.")
    if len(args.out) == 1:
        rows = replay_bench(args.out[0], arms, seeds, args.confidence)
    else:  # each benchmark in a child: one process opens one FiftyOne database (a world each)
        rows = [row for out in args.out for row in replay_in_child(out, child_options(args))]
    seed_width = max([7, *(len(r["seed"]) + 1 for r in rows)])  # a drawn world's seed is long
    print(
        f"{'world':<16}{'seed':<{seed_width}}{'arm':<14}{'cycle':>5}{'today':>7}{'bound':>7}"
        f"{'evidence':>10}{'noninf':>8}{'worst':>7}{'ev.worst':>10}{'deploy':>8}{'ev.deploy':>11}"
        f"{'ni.deploy':>11}{'worst2 +':>10}{'mAP50 +':>9}{'better':>8}"
    )
    for r in rows:
        gain = r["test_worst2_gain"]
        evidence, ev_worst, ev_deploy = (
            "-"
            if r.get(name) is None
            else "carry"
            if r.get(f"{name}_carried")
            else "yes"
            if r[name]
            else "no"
            for name in EVIDENCE
        )
        deploy, ni_deploy = (
            "-" if r.get(name) is None else "yes" if r[name] else "no"
            for name in ("deployment", "noninferior_deployment")
        )
        print(
            f"{r['world']:<16}{r['seed']:<{seed_width}}{r['arm']:<14}{r['cycle']:>5}"
            f"{'yes' if r['today'] else 'no':>7}{'yes' if r['bound'] else 'no':>7}{evidence:>10}"
            f"{'yes' if r['noninferior'] else 'no':>8}"
            f"{'yes' if r['worst'] else 'no':>7}{ev_worst:>10}{deploy:>8}{ev_deploy:>11}"
            f"{ni_deploy:>11}"
            f"{'-' if gain is None else f'{gain:+.3f}':>10}{r['test_map50_gain']:+9.3f}"
            f"{'-' if r['better'] is None else 'yes' if r['better'] else 'no':>8}"
        )
    print("\n" + "\n".join(summary_lines(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
