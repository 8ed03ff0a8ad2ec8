"""Do the counterfactual verdicts agree with what the gate saw after the cycle?

Usage: python scripts/verdict_agreement.py FOLDER [FOLDER ...]

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
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.bootstrap import build_deps  # noqa: E402
from agent.control.runner import LoopDriver  # noqa: E402
from agent.settings import Settings  # noqa: E402
from evaluation.counterfactual import CounterfactualResult  # noqa: E402

AGREES = {("supported", "confirmed"), ("not supported", "refuted")}


def workspaces(folder: Path) -> list[Path]:
    """The workspaces under `folder` (itself included) that ran a targeted loop."""
    found = [p.parent for p in folder.rglob("current_loop.json")]
    ran = [p for p in found if (p / "failforge.yaml").is_file()]
    return sorted(p for p in ran if Settings.load(p).loop.strategy == "targeted")


def pairs(workspace: Path, on: str) -> list[tuple[int, str, str, str]]:
    """(cycle, slice, verdict, outcome) of each checked hypothesis of the current loop, read in
    a child process (a process opens one FiftyOne database, and workspaces may have their own)."""
    command = [sys.executable, __file__, "--one", "--on", on, str(workspace)]
    return [tuple(row) for row in json.loads(subprocess.check_output(command))]


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


def _test_outcomes(deps: Any, loop_id: str, record: Any) -> dict[str, str]:
    """Each checked slice of the cycle measured on test: the candidate against its incumbent."""
    from agent.control.report import ensure_test_metrics
    from agent.results import Discovery
    from agent.steps.failures import val_object_table
    from evaluation.gate import slice_outcomes
    from evaluation.scorecards import measure_scorecard

    key = f"{loop_id}/c{record.cycle}/r0/discover_failures"
    discovery = Discovery.model_validate(deps.registry.step_result(key))
    slices = {s.name: s.conditions for s in discovery.slices if s.name in record.checked}
    candidate = deps.registry.model(record.candidate)
    cards = []
    for model in (candidate.parent, candidate.name):
        ensure_test_metrics(deps, model)  # predicts on test once per model, then reads back
        table = val_object_table(deps, model, "test")
        cards.append(measure_scorecard(0.0, table, discovery.edges, slices))
    return {name: o.verdict for name, o in slice_outcomes(*cards, list(slices)).items()}


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
        "--list", action="store_true", help="also list every hypothesis whose outcome is decided"
    )
    parser.add_argument(
        "--on", choices=("val", "test"), default="val", help="where outcomes are measured"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_read_pairs(args.folders[0], args.on)))
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
    verdicts = ["supported", "not supported", "undecided", "not checkable"]
    outcomes = ["confirmed", "refuted", "unclear"]
    print("| verdict before planning | " + " | ".join(outcomes) + " |")
    print("|---|" + "---|" * len(outcomes))
    for v in verdicts:
        print(f"| {v} | " + " | ".join(str(table[(v, o)]) for o in outcomes) + " |")
    # Agreement is judged on the hypotheses an edit could check.
    decided = sum(table[(v, o)] for v in verdicts[:3] for o in ("confirmed", "refuted"))
    agree = sum(table[pair] for pair in AGREES)
    both = sum(table[(v, o)] for v in verdicts[:2] for o in ("confirmed", "refuted"))
    apart = sum(table[("not checkable", o)] for o in ("confirmed", "refuted"))
    print(f"\noutcome decided: {decided} checked hypotheses ({apart} more not checkable)", end="")
    print(f"; the verdict agrees on {agree}", end="")
    print(f" ({agree / decided:.0%})" if decided else "", end="")
    print(f"; both decided: {both}, agreeing {agree}" + (f" ({agree / both:.0%})" if both else ""))


if __name__ == "__main__":
    main()
