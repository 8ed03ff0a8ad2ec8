"""What the counterfactual check costs: its seconds beside each cycle's, read from a workspace.

Usage: python scripts/check_cost.py WORKSPACE [WORKSPACE ...]

Reads the event log only (nothing runs): a cycle's seconds from its `cycle_started` to its
`cycle_finished` event, the check's from its `hypotheses_checked` event (the step's own wall
time), and the check's share of the cycle with and without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from storage.registry import Registry  # noqa: E402


def cycle_costs(workspace: Path) -> list[tuple[str, int, float, float]]:
    """(loop, cycle, cycle seconds, check seconds) for each finished cycle."""
    started: dict[tuple[str, int], float] = {}
    checked: dict[tuple[str, int], float] = {}
    rows = []
    for event in Registry(workspace / "registry.sqlite").events(limit=1_000_000):
        key = (event.loop_id, event.cycle)
        if event.kind == "cycle_started":
            started[key] = event.at.timestamp()
        elif event.kind == "hypotheses_checked":
            checked[key] = float(event.payload.get("seconds", 0.0))
        elif event.kind == "cycle_finished" and key in started:
            rows.append((*key, event.at.timestamp() - started[key], checked.get(key, 0.0)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("workspaces", type=Path, nargs="+")
    args = parser.parse_args()
    shares = []
    print("| workspace | loop | cycle | cycle s | check s | added to the cycle without it |")
    print("|---|---|---|---|---|---|")
    for workspace in args.workspaces:
        for loop, cycle, seconds, check in cycle_costs(workspace):
            added = check / max(seconds - check, 1e-9)
            shares.append(added)
            print(f"| {workspace} | {loop} | {cycle} | {seconds:.1f} | {check:.1f} | {added:.1%} |")
    if shares:
        print(f"\nmedian added: {statistics.median(shares):.1%}, max {max(shares):.1%}")


if __name__ == "__main__":
    main()
