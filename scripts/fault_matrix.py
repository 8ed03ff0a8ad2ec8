"""Kill a real loop at every point of the matrix, resume it, and tally which cases survived.

    python scripts/fault_matrix.py --out faults-out [--cycles 1] [--points a:start,b:end]
    python scripts/fault_matrix.py --out faults-ci-out --points one-per-node   # CI's twelve

Each point is a node at its start, middle (half its duration in an uninterrupted run) or end,
or inside the approval's or the promotion's database write; see tests/faults/harness.py.
Writes faults.json and prints a table; exit code 1 when a case did not survive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.harness import (
    ONE_PER_NODE,
    POINTS,
    node_seconds,
    run_case,
    trained_baseline,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("faults-out"))
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument(
        "--points",
        default=",".join(POINTS),
        help="comma-separated points, or one-per-node (each node once, phases in turn)",
    )
    args = parser.parse_args()
    points = ONE_PER_NODE if args.points == "one-per-node" else args.points.split(",")
    out = args.out.expanduser().resolve()
    base = out / "base"
    if not (base / "failforge.yaml").is_file():
        base = trained_baseline(out)
    seconds = node_seconds(base, out / "cases", args.cycles)
    console = Console(stderr=True, emoji=False)
    results = []
    for point in points:
        result = run_case(base, out / "cases", point, args.cycles, seconds)
        results.append(result)
        verdict = "survived" if result.survived else f"FAILED: {result.problems or result.died}"
        console.print(f"{point}: {verdict} ({result.seconds:.0f} s)")
    table = Table(title=f"Kill matrix: {sum(r.survived for r in results)}/{len(results)} survived")
    for column in ("point", "died in", "resume", "problems", "s"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.point, r.died, str(r.resume_code), "; ".join(r.problems), f"{r.seconds:.0f}"
        )
    Console(emoji=False).print(table)
    rows = [{**r.__dict__, "workspace": str(r.workspace)} for r in results]
    (out / "faults.json").write_text(json.dumps({"node_seconds": seconds, "cases": rows}, indent=2))
    return 0 if all(r.survived for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
