"""Do the counterfactual verdicts agree with what the gate saw after the cycle?

Usage: python scripts/verdict_agreement.py FOLDER [FOLDER ...]

Every workspace under the folders (a demo workspace, a benchmark's arm folders) is read: for
each cycle of its current loop, each hypothesis' verdict before planning (supported, not
supported, undecided) against its slice's outcome after the gate (confirmed, refuted, unclear,
by the val recall change). A verdict agrees when supported meets confirmed or not supported
meets refuted. Read only; nothing runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.bootstrap import build_deps  # noqa: E402
from agent.control.runner import LoopDriver  # noqa: E402
from agent.settings import Settings  # noqa: E402

AGREES = {("supported", "confirmed"), ("not supported", "refuted")}


def workspaces(folder: Path) -> list[Path]:
    """The workspaces under `folder` (itself included) that ran a loop."""
    found = [p.parent for p in folder.rglob("current_loop.json")]
    return sorted(p for p in found if (p / "failforge.yaml").is_file())


def pairs(workspace: Path) -> list[tuple[int, str, str, str]]:
    """(cycle, slice, verdict, outcome) of each checked hypothesis of the current loop, read in
    a child process (a process opens one FiftyOne database, and workspaces may have their own)."""
    command = [sys.executable, __file__, "--one", str(workspace)]
    return [tuple(row) for row in json.loads(subprocess.check_output(command))]


def _read_pairs(workspace: Path) -> list[tuple[int, str, str, str]]:
    state = LoopDriver(build_deps(Settings.load(workspace))).current_state()
    if state is None:
        return []
    return [
        (record.cycle, name, verdict, record.outcomes.get(name, "unclear"))
        for record in state.history
        for name, verdict in record.checked.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_read_pairs(args.folders[0])))
        return
    table: Counter[tuple[str, str]] = Counter()
    for folder in args.folders:
        for workspace in workspaces(folder):
            for _, _, verdict, outcome in pairs(workspace):
                table[(verdict, outcome)] += 1
    verdicts = ["supported", "not supported", "undecided"]
    outcomes = ["confirmed", "refuted", "unclear"]
    print("| verdict before planning | " + " | ".join(outcomes) + " |")
    print("|---|" + "---|" * len(outcomes))
    for v in verdicts:
        print(f"| {v} | " + " | ".join(str(table[(v, o)]) for o in outcomes) + " |")
    decided = sum(table[(v, o)] for v in verdicts for o in ("confirmed", "refuted"))
    agree = sum(table[pair] for pair in AGREES)
    both = sum(table[(v, o)] for v in verdicts[:2] for o in ("confirmed", "refuted"))
    print(f"\noutcome decided: {decided} hypotheses; the verdict agrees on {agree}", end="")
    print(f" ({agree / decided:.0%})" if decided else "", end="")
    print(f"; both decided: {both}, agreeing {agree}" + (f" ({agree / both:.0%})" if both else ""))


if __name__ == "__main__":
    main()
