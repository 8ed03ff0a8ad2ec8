"""The check_hypotheses node in the loop: once per (loop, cycle), replayed after a kill, off by
setting, its verdicts in the cycle's record and in the approval payload."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from agent.control.queries import latest_checks
from agent.control.runner import LoopDriver
from agent.entry.review import checks_markdown
from agent.state import CycleRecord, LoopState
from agent.steps.counterfactuals import result_path
from agent.steps.failures import earlier_check
from evaluation.counterfactual import CounterfactualResult
from tests.fakes import FakeWork, fake_deps
from tools.analyst.base import SliceEvidence
from tools.analyst.offline import OfflineAnalyst


def test_the_check_runs_once_a_cycle_and_its_verdicts_reach_the_record(tmp_path: Path) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake, loop={"target_recall": 0.99})
    outcome = LoopDriver(deps).start(cycles=2, budget=100, auto_approve=True)
    assert outcome.finished and fake.calls["check_hypotheses"] == 2
    assert [r.checked for r in outcome.state.history] == [{"brightness=low": "supported"}] * 2
    checked = [e for e in deps.registry.events() if e.kind == "hypotheses_checked"]
    assert [e.cycle for e in checked] == [1, 2]
    assert checked[0].payload["verdicts"] == {"brightness=low": "supported"}


def test_switched_off_the_check_leaves_no_verdicts(tmp_path: Path) -> None:
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake, loop={"check_hypotheses": False})
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=False)
    assert fake.calls["check_hypotheses"] == 0 and fake.calls["plan"] == 1
    assert outcome.state.counterfactuals is None
    assert outcome.waiting is not None and outcome.waiting.hypothesis_checks == []


def test_the_approval_payload_carries_each_verdict_with_its_figures(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path, FakeWork())
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=False)
    assert outcome.waiting is not None
    (line,) = outcome.waiting.hypothesis_checks
    assert (line.slice, line.blamed, line.verdict) == (
        "brightness=low",
        "lighting=night",
        "supported",
    )
    assert (line.misses, line.edit_recovered, line.placebo_recovered) == (20, 0.6, 0.05)
    assert line.low is not None and line.high is not None and 0 < line.low < 0.55 < line.high
    assert "60% of 20 misses" in line.text()
    # The strip the check wrote, named relative to the workspace folder.
    assert outcome.state is not None
    assert line.strip == f"cycles/1/counterfactual/{outcome.state.loop_id}/00/brightness/strip.png"
    assert (deps.workspace.root / line.strip).read_bytes().startswith(b"\x89PNG")


CHILD = """
import os, signal, sys
from pathlib import Path
from tests.fakes import FakeWork, fake_deps
from agent.control.queries import latest_checks
from agent.control.runner import LoopDriver
from agent.entry.review import checks_markdown
from agent.state import CycleRecord, LoopState
from agent.steps.counterfactuals import result_path
from agent.steps.failures import earlier_check
from evaluation.counterfactual import CounterfactualResult
from tools.analyst.base import SliceEvidence
from tools.analyst.offline import OfflineAnalyst
deps = fake_deps(Path(sys.argv[1]), FakeWork())
log_once = deps.registry.log_once
def dying(key, kind, *args, **payload):
    # Killed after the check's result was stored, before its node returned.
    if kind == "hypotheses_checked":
        os.kill(os.getpid(), signal.SIGKILL)
    return log_once(key, kind, *args, **payload)
deps.registry.log_once = dying
LoopDriver(deps).start(cycles=1, budget=100, auto_approve=True)
"""


def test_a_check_killed_in_its_node_is_replayed_not_rerun_after_resume(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(tmp_path)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    outcome = LoopDriver(deps).resume()
    assert outcome.finished and fake.calls["plan"] == 1
    assert fake.calls["check_hypotheses"] == 0  # the stored result, not a second check
    replayed = [e for e in deps.registry.events() if e.kind == "step_replayed"]
    assert [e.step for e in replayed] == ["check_hypotheses"]
    assert [e.kind for e in deps.registry.events()].count("hypotheses_checked") == 1
    assert outcome.state.history[0].checked == {"brightness=low": "supported"}


def test_the_analyst_reads_the_last_earlier_verdict_of_its_slice() -> None:
    history = [
        CycleRecord(
            cycle=c,
            batch_id=None,
            approved=True,
            images=0,
            candidate=None,
            promoted=False,
            checked=checked,
        )
        for c, checked in [(1, {"fog": "supported"}), (2, {"fog": "not supported"}), (3, {})]
    ]
    state = LoopState(loop_id="l", max_cycles=4, budget=10, cycle=4, history=history)
    assert earlier_check(state, "fog") == "cycle 2: not supported"
    assert earlier_check(state, "night") is None
    evidence = SliceEvidence(
        slice_name="fog",
        conditions={},
        support=30,
        recall=0.2,
        deficit=0.3,
        stats={"haze": 0.6},
        overall_stats={"haze": 0.2},
        earlier_check="cycle 2: not supported",
    )
    noted = OfflineAnalyst().analyze([evidence], ["car"]).hypotheses[0]
    plain = (
        OfflineAnalyst()
        .analyze([evidence.model_copy(update={"earlier_check": None})], ["car"])
        .hypotheses[0]
    )
    assert noted.why == f"{plain.why}; earlier counterfactual check: cycle 2: not supported"
    assert noted.conditions == plain.conditions


def test_the_panel_and_status_show_each_verdict_with_its_figures(tmp_path: Path) -> None:
    deps = fake_deps(tmp_path, FakeWork())
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=False)
    assert outcome.waiting is not None and outcome.state is not None
    lines = [line.model_dump(mode="json") for line in outcome.waiting.hypothesis_checks]
    shown = checks_markdown(lines, deps.workspace.root).splitlines()
    [row] = [r for r in shown if r.startswith("| brightness=low |")]
    assert row.startswith("| brightness=low | lighting=night | 60% of 20 | 5% | +0.55 (")
    assert row.endswith("| **supported** |")
    # Below the table, the line's before/after strip as the file it is.
    strip = deps.workspace.root / lines[0]["strip"]
    assert shown[-1] == f"- brightness=low (lighting=night): `{strip}`"
    assert strip.is_file()
    # `failforge status` reads the newest result the check wrote, whichever loop wrote it.
    assert latest_checks(deps) == []
    older = outcome.state.model_copy(update={"loop_id": "old", "cycle": 3})
    for state, result in ((older, None), (outcome.state, outcome.state.counterfactuals)):
        path = result_path(deps, state)
        path.parent.mkdir(parents=True, exist_ok=True)
        written = result or CounterfactualResult(loop_id="old", cycle=3, incumbent="v0")
        path.write_text(written.model_dump_json())
        if result is None:  # written well before the current loop's, whatever the clock's grain
            os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))
    assert latest_checks(deps) == outcome.waiting.hypothesis_checks


def test_the_report_and_status_show_each_strip(tmp_path: Path) -> None:
    from agent.control.report import _checks_section
    from agent.entry.cli import _print_status
    from agent.entry.cli_common import console

    deps = fake_deps(tmp_path, FakeWork())
    deps.registry.add_model("v1", tmp_path / "v1.pt", None, "incumbent", {})
    outcome = LoopDriver(deps).start(cycles=1, budget=100, auto_approve=False)
    assert outcome.state is not None and outcome.state.counterfactuals is not None
    path = result_path(deps, outcome.state)  # where the real step stores its result
    path.write_text(outcome.state.counterfactuals.model_dump_json())
    [line] = outcome.state.counterfactuals.lines()
    assert line.strip is not None
    strip = deps.workspace.root / line.strip
    assert strip.is_file()

    # The report (reports/report.md) shows the strip beside its check, found from its folder.
    record = CycleRecord(
        cycle=1, batch_id=None, approved=True, images=4, candidate=None, promoted=False
    )
    state = outcome.state.model_copy(update={"history": [record]})
    [row] = [r for r in _checks_section(deps, state) if r.startswith("| 1 |")]
    image = f"../{line.strip}"
    assert row.endswith(f"| ![before/after]({image}) |")
    assert (deps.workspace.reports_dir / image).resolve() == strip.resolve()

    # `failforge status` names the file, whole on its line.
    with console.capture() as captured:
        _print_status(deps, "test")
    shown = captured.get().splitlines()
    assert f"  brightness=low (lighting=night): {strip.resolve()}" in shown
