"""Do the counterfactual verdicts agree with what the gate saw after the cycle?

Usage: python scripts/verdict_agreement.py FOLDER [FOLDER ...]
       python scripts/verdict_agreement.py WORLD [WORLD ...] --on test --against uniform

Every workspace under the folders (a demo workspace, a benchmark's arm folders) whose loop
planned by its hypotheses (`loop.strategy: targeted`; the other arms run the check too, but
their batches do not follow it, so their outcomes test nothing it said) is read: for each cycle
of its current loop, each hypothesis' verdict before planning (supported, not supported,
undecided) against its slice's outcome after the gate (confirmed, refuted, unclear, by the val
recall change). A hypothesis no edit could check (it blames only a class, or nothing an edit
removes) is counted apart as `not checkable`, not as undecided. A verdict agrees when supported
meets confirmed or not supported meets refuted. Read only; nothing runs.

`--on test` (benchmarks): the outcome is measured instead on `test`, which a benchmark's drawn
worlds hold twice as large as val: each hypothesis' slice (its val bin edges applied to test's
objects) in the candidate against its incumbent, confirmed or refuted by the same 90% interval
of paired per-object differences as the loop's. Test only grades here, as in replay_gate.py;
a model never measured on test is predicted there once (and its test metrics stored), so the
detector may run.

`--against uniform` (benchmark worlds, with `--on test`): the outcome over time above does not
test causality (any fine-tune raises most weak slices, so on test nearly every decided outcome
is "confirmed"). This grades each targeted hypothesis by a counterfactual over plans instead:
its slice's test recall gain in the targeted arm minus the same slice's gain in the uniform arm,
which spent the same budget without aiming there. Each arm's model is the candidate trained in
the hypothesis' cycle (the first trained on the batch that aimed at it; the last candidate would
also hold later batches aimed elsewhere, and ungated candidates are kept since the gate's val
verdict is not what is graded), and each gain is measured from the baseline the arms share, so the
difference is the targeted candidate's recall minus the uniform candidate's, on the same test
objects: its 90% interval comes from their paired per-object differences. The outcome is "aimed
helped" when the interval is above 0, "aimed did not help" when it lies below +NO_HELP (below 0,
or tight around it), else "unclear". A verdict agrees when supported meets aimed helped or not
supported meets aimed did not help. A folder is a world (WORLD/seed<N>/{targeted,uniform}/, each
arm a workspace); a table is printed per world, then over all of them. A hypothesis whose two
candidates have different parents (the arms' gates diverged in an earlier cycle) is listed but
left out of the tables, and counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.bootstrap import build_deps  # noqa: E402
from agent.control.runner import LoopDriver  # noqa: E402
from agent.settings import Settings  # noqa: E402
from evaluation.counterfactual import CounterfactualResult  # noqa: E402
from evaluation.gate import ModelScorecard, SliceOutcome, slice_outcomes  # noqa: E402

VERDICTS = ["supported", "not supported", "undecided", "not checkable"]
OUTCOMES = ["confirmed", "refuted", "unclear"]
AGREES = {("supported", "confirmed"), ("not supported", "refuted")}
PLAN_OUTCOMES = ["aimed helped", "aimed did not help", "unclear"]
PLAN_AGREES = {("supported", "aimed helped"), ("not supported", "aimed did not help")}
# "Aimed did not help" also covers an interval tight around 0: its upper end below this recall
# gain over uniform. Requiring it below 0 alone would ask the aimed batch to have hurt its own
# slice against a batch that did not aim there, which almost never happens, so "not supported"
# could almost never agree (the asymmetry the outcome over time has). The counterfactual's "not
# supported" likewise needs its interval below a small effect (SMALL_EFFECT), not below 0. Five
# points of a slice's recall is a gain too small to be worth aiming a batch for, and about the
# smallest a test slice of a few hundred objects can bound.
NO_HELP = 0.05


def workspaces(folder: Path) -> list[Path]:
    """The workspaces under `folder` (itself included) that ran a targeted loop."""
    found = [p.parent for p in folder.rglob("current_loop.json")]
    ran = [p for p in found if (p / "failforge.yaml").is_file()]
    return sorted(p for p in ran if Settings.load(p).loop.strategy == "targeted")


def arm_pairs(folder: Path) -> list[Path]:
    """The seed folders under a world `folder` that hold a targeted and a uniform arm, both run."""
    seeds = [p.parent.parent for p in folder.rglob("targeted/current_loop.json")]
    return sorted(p for p in seeds if (p / "uniform" / "current_loop.json").is_file())


def pairs(workspace: Path, on: str) -> list[tuple[int, str, str, str]]:
    """(cycle, slice, verdict, outcome) of each checked hypothesis of the current loop, read in
    a child process (a process opens one FiftyOne database, and workspaces may have their own)."""
    command = [sys.executable, __file__, "--one", "--on", on, str(workspace)]
    return [tuple(row) for row in json.loads(subprocess.check_output(command))]


def plan_rows(seed: Path) -> list[dict[str, Any]]:
    """Each checked hypothesis of the targeted arm under `seed` with its slice's test recall in
    the baseline and in both arms' candidates of its cycle, read in a child process (as `pairs`)."""
    command = [sys.executable, __file__, "--one", "--on", "test", "--against", "uniform", str(seed)]
    return list(json.loads(subprocess.check_output(command)))


def _read_pairs(workspace: Path, on: str) -> list[tuple[int, str, str, str]]:
    deps = build_deps(Settings.load(workspace))
    state = LoopDriver(deps).current_state()
    if state is None:
        return []
    rows = []
    for record in state.history:
        result = deps.workspace.cycle_dir(record.cycle) / "counterfactual" / state.loop_id
        checkable = _checkable(result / "result.json")
        outcomes = record.outcomes
        if on == "test":
            outcomes = _test_outcomes(deps, state.loop_id, record) if record.candidate else {}
        for name, verdict in record.checked.items():
            shown = verdict if checkable.get(name, True) else "not checkable"
            rows.append((record.cycle, name, shown, outcomes.get(name, "unclear")))
    return rows


def _discovery(deps: Any, loop_id: str, cycle: int) -> Any:
    """The cycle's discovered slices and the val bin edges that define them."""
    from agent.results import Discovery

    key = f"{loop_id}/c{cycle}/r0/discover_failures"
    return Discovery.model_validate(deps.registry.step_result(key))


def _test_table(deps: Any, model: str) -> Any:
    """The test objects with whether `model` found each one."""
    from agent.control.report import ensure_test_metrics
    from agent.steps.failures import val_object_table

    ensure_test_metrics(deps, model)  # predicts on test once per model, then reads back
    return val_object_table(deps, model, "test")


def _test_outcomes(deps: Any, loop_id: str, record: Any) -> dict[str, str]:
    """Each checked slice of the cycle measured on test: the candidate against its incumbent."""
    from evaluation.scorecards import measure_scorecard

    discovery = _discovery(deps, loop_id, record.cycle)
    slices = {s.name: s.conditions for s in discovery.slices if s.name in record.checked}
    candidate = deps.registry.model(record.candidate)
    before, after = (
        measure_scorecard(0.0, _test_table(deps, model), discovery.edges, slices)
        for model in (candidate.parent, candidate.name)
    )
    return {name: o.verdict for name, o in slice_outcomes(before, after, list(slices)).items()}


def _read_plan_rows(seed: Path) -> list[dict[str, Any]]:
    aimed, spread = (build_deps(Settings.load(seed / arm)) for arm in ("targeted", "uniform"))
    aimed_state = LoopDriver(aimed).current_state()
    spread_state = LoopDriver(spread).current_state()
    if aimed_state is None or spread_state is None:
        return []
    spread_candidates = {r.cycle: r.candidate for r in spread_state.history}
    tables = _TestTables()
    rows = []
    for record in aimed_state.history:
        result = aimed.workspace.cycle_dir(record.cycle) / "counterfactual" / aimed_state.loop_id
        checkable = _checkable(result / "result.json")
        spread_candidate = spread_candidates.get(record.cycle)
        figures: dict[str, dict[str, Any]] = {}
        if record.candidate and spread_candidate and record.checked:
            discovery = _discovery(aimed, aimed_state.loop_id, record.cycle)
            slices = {s.name: s.conditions for s in discovery.slices if s.name in record.checked}
            figures = _cycle_figures(
                tables, (aimed, record.candidate), (spread, spread_candidate), discovery, slices
            )
        for name, verdict in record.checked.items():
            shown = verdict if checkable.get(name, True) else "not checkable"
            rows.append(
                {"cycle": record.cycle, "slice": name, "verdict": shown, **figures.get(name, {})}
            )
    return rows


class _TestTables:
    """Test tables read once per (workspace, model): a model recurs as a later cycle's base."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], Any] = {}

    def get(self, deps: Any, model: str) -> Any:
        key = (str(deps.settings.workspace), model)
        if key not in self._read:
            self._read[key] = _test_table(deps, model)
        return self._read[key]


def _cycle_figures(
    tables: _TestTables,
    aimed: tuple[Any, str],
    spread: tuple[Any, str],
    discovery: Any,
    slices: dict[str, dict[str, str]],
) -> dict[str, dict[str, Any]]:
    """Per slice of one cycle: the figures of `_plan_figures` for the two arms' candidates
    ((deps, model) each), and whether those candidates share a parent."""
    from evaluation.scorecards import measure_scorecard

    (aimed_deps, aimed_model), (spread_deps, spread_model) = aimed, spread
    base = tables.get(aimed_deps, _root(aimed_deps, aimed_model))
    aimed_table = tables.get(aimed_deps, aimed_model)
    spread_table = tables.get(spread_deps, spread_model)
    _require_same_objects(aimed_table, spread_table)
    _require_same_objects(aimed_table, base)
    start, aimed_card, spread_card = (
        measure_scorecard(0.0, t, discovery.edges, slices)
        for t in (base, aimed_table, spread_table)
    )
    # The arms start from one baseline and label the same budget per cycle, so a cycle's
    # candidates differ in which images their batches held (all batches so far are trained on)
    # and, from cycle 2, in their parent where the arms' gates decided differently (each
    # fine-tunes its own incumbent): rows say when, since then a difference is not the plan's.
    same_parent = _parent(aimed_deps, aimed_model) == _parent(spread_deps, spread_model)
    figures = _plan_figures(start, aimed_card, spread_card, list(slices))
    return {name: {**f, "same_parent": same_parent} for name, f in figures.items()}


def _parent(deps: Any, model: str) -> str | None:
    """The model `model` was fine-tuned from."""
    return deps.registry.model(model).parent


def _root(deps: Any, model: str) -> str:
    """The model a chain of candidates started from: the baseline every arm was given."""
    record = deps.registry.model(model)
    while record.parent:
        record = deps.registry.model(record.parent)
    return str(record.name)


def _require_same_objects(a: Any, b: Any) -> None:
    """Refuse to pair two test tables unless they list the same objects in the same order (the
    arms hold clones of one test split, so their classes and measured attributes must match)."""
    same = len(a.found) == len(b.found) and (a.classes == b.classes).all()
    if not same or any((a.values[k] != b.values[k]).any() for k in a.values):
        raise ValueError("the arms' test objects differ: a paired difference needs the same ones")


def _plan_figures(
    base: ModelScorecard, aimed: ModelScorecard, spread: ModelScorecard, names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per slice: both arms' recall gain over the baseline and the 90% interval of their
    difference. The baseline cancels from the difference, object by object, so the interval is
    the gate's paired one of the aimed candidate against the uniform one."""
    figures = {}
    for name, outcome in plan_difference(aimed, spread, names).items():
        start = base.slice_recall[name]
        figures[name] = {
            "aimed_gain": outcome.after - start,
            "uniform_gain": outcome.before - start,
            "low": outcome.low,
            "high": outcome.high,
            "objects": len(aimed.slice_found[name]),
        }
    return figures


def plan_difference(
    aimed: ModelScorecard, spread: ModelScorecard, names: Sequence[str]
) -> dict[str, SliceOutcome]:
    """Each slice's recall in the aimed arm's model minus the uniform arm's, with the 90%
    interval of the paired per-object differences (a slice with no objects is left out)."""
    return slice_outcomes(spread, aimed, names)


def plan_outcome(low: float | None, high: float | None, no_help: float = NO_HELP) -> str:
    """Aimed helped (the difference's interval above 0), aimed did not help (below `no_help`),
    or unclear; unclear too when the slice was not measured."""
    if low is None or high is None:
        return "unclear"
    if low > 0:
        return "aimed helped"
    return "aimed did not help" if high < no_help else "unclear"


def agreement(
    table: Counter[tuple[str, str]], decided: Sequence[str], agrees: set[tuple[str, str]]
) -> dict[str, int]:
    """Counts behind the agreement line: checked hypotheses (an edit could check them) whose
    outcome is decided, how many of them a verdict agrees with, those where verdict and outcome
    are both decided, and the decided ones no edit could check."""
    checked = VERDICTS[:3]
    return {
        "checked": sum(n for (v, _), n in table.items() if v in checked),
        "decided": sum(table[(v, o)] for v in checked for o in decided),
        "agree": sum(table[pair] for pair in agrees),
        "both": sum(table[(v, o)] for v in VERDICTS[:2] for o in decided),
        "apart": sum(table[("not checkable", o)] for o in decided),
    }


def print_table(
    table: Counter[tuple[str, str]], outcomes: Sequence[str], agrees: set[tuple[str, str]]
) -> None:
    """The verdict-by-outcome table and its agreement line (the last outcome is undecided)."""
    print("| verdict before planning | " + " | ".join(outcomes) + " |")
    print("|---|" + "---|" * len(outcomes))
    for v in VERDICTS:
        print(f"| {v} | " + " | ".join(str(table[(v, o)]) for o in outcomes) + " |")
    # Agreement is judged on the hypotheses an edit could check.
    n = agreement(table, outcomes[:-1], agrees)
    decided, agree, both = n["decided"], n["agree"], n["both"]
    share = f" ({decided / n['checked']:.0%})" if n["checked"] else ""
    print(f"\noutcome decided: {decided} of {n['checked']} checked hypotheses{share}", end="")
    print(f", {n['apart']} more not checkable", end="")
    print(f"; the verdict agrees on {agree}", end="")
    print(f" ({agree / decided:.0%})" if decided else "", end="")
    print(f"; both decided: {both}, agreeing {agree}" + (f" ({agree / both:.0%})" if both else ""))


def against_uniform(folders: Sequence[Path], listed: bool) -> None:
    """The plan-counterfactual tables: per world folder, then over all of them."""
    overall: Counter[tuple[str, str]] = Counter()
    strict: Counter[tuple[str, str]] = Counter()
    apart = 0  # hypotheses whose arms' candidates had different parents: not the plan's alone
    for folder in folders:
        print(f"\n### {folder}\n")
        table: Counter[tuple[str, str]] = Counter()
        for seed in arm_pairs(folder):
            for row in plan_rows(seed):
                outcome = plan_outcome(row.get("low"), row.get("high"))
                if listed:
                    print(_row_text(seed, row, outcome))
                if not row.get("same_parent", True):
                    apart += 1
                    continue
                table[(row["verdict"], outcome)] += 1
                strict[(row["verdict"], plan_outcome(row.get("low"), row.get("high"), 0.0))] += 1
        print("\n" if listed else "", end="")
        print_table(table, PLAN_OUTCOMES, PLAN_AGREES)
        overall.update(table)
    print(f"\n### all {len(folders)} worlds\n")
    print_table(overall, PLAN_OUTCOMES, PLAN_AGREES)
    print(
        f"{apart} more left out: the arms' gates had diverged, so their candidates had "
        "different parents and the difference is not the plan's alone"
    )
    # The same hypotheses with "aimed did not help" only below 0, for comparison.
    n = agreement(strict, PLAN_OUTCOMES[:-1], PLAN_AGREES)
    print(f"(with 'aimed did not help' only below 0: {n['decided']} decided, {n['agree']} agree)")


def _row_text(seed: Path, row: dict[str, Any], outcome: str) -> str:
    head = f"{seed}  cycle {row['cycle']}  {row['slice']}: {row['verdict']} -> {outcome}"
    if "low" not in row:
        return head + " (not measured)"
    return (
        f"{head}  (gain targeted {row['aimed_gain']:+.3f}, uniform {row['uniform_gain']:+.3f}, "
        f"difference [{row['low']:+.3f}, {row['high']:+.3f}], {row['objects']} test objects"
        + ("" if row["same_parent"] else "; the arms' candidates have different parents")
        + ")"
    )


def _checkable(path: Path) -> dict[str, bool]:
    """Per hypothesis' slice: whether any of its factors was edited (an unchecked factor has no
    edit); empty when the cycle's result is not stored."""
    if not path.is_file():
        return {}
    result = CounterfactualResult.model_validate_json(path.read_text())
    return {c.slice_name: any(f.edit is not None for f in c.factors) for c in result.checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument(
        "--list",
        action="store_true",
        help="also list every hypothesis whose outcome is decided (with --against: every one, "
        "with its figures)",
    )
    parser.add_argument(
        "--on", choices=("val", "test"), default="val", help="where outcomes are measured"
    )
    parser.add_argument(
        "--against",
        choices=("uniform",),
        help="grade by the slice's gain over the uniform arm's (a counterfactual over plans)",
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against and args.on != "test":
        # Val found the slices and gated both arms' candidates; only test is left to grade on.
        parser.error("--against uniform is measured on test: add --on test")
    if args.one:
        read = (
            _read_plan_rows(args.folders[0])
            if args.against
            else _read_pairs(args.folders[0], args.on)
        )
        print(json.dumps(read))
        return
    if args.against:
        against_uniform(args.folders, args.list)
        return
    table: Counter[tuple[str, str]] = Counter()
    listed = []
    for folder in args.folders:
        for workspace in workspaces(folder):
            for cycle, name, verdict, outcome in pairs(workspace, args.on):
                table[(verdict, outcome)] += 1
                if outcome in ("confirmed", "refuted"):
                    listed.append(f"{workspace}  cycle {cycle}  {name}: {verdict} -> {outcome}")
    if args.list:
        print("\n".join(listed) + "\n")
    print_table(table, OUTCOMES, AGREES)


if __name__ == "__main__":
    main()
