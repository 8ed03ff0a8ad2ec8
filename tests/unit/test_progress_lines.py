"""The loop's progress lines: what each node's line says as a loop runs in the terminal."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from agent.entry.cli_loop import _observer
from evaluation.counterfactual import CounterfactualResult, FactorCheck, HypothesisCheck


def _line(node: str, update: dict) -> str:
    out = StringIO()
    _observer(Console(file=out, width=200, color_system=None))(node, update)
    return out.getvalue().strip()


def test_the_check_line_names_each_hypothesis_verdict_and_its_seconds() -> None:
    result = CounterfactualResult(
        loop_id="l",
        cycle=1,
        incumbent="v1",
        seconds=12.4,
        checks=[
            HypothesisCheck(
                slice_name="lighting=night",
                factors=[
                    FactorCheck(
                        slice_name="lighting=night",
                        attribute="brightness",
                        blamed="lighting=night",
                        verdict="supported",
                        reason="found after the edit",
                    )
                ],
            ),
            HypothesisCheck(slice_name="class=sign", factors=[]),
        ],
    )
    line = _line("check_hypotheses", {"counterfactuals": result})
    assert line == "check_hypotheses lighting=night: supported; class=sign: undecided (12 s)"


def test_a_check_switched_off_says_nothing_and_an_empty_one_says_so() -> None:
    assert _line("check_hypotheses", {"counterfactuals": None}) == "check_hypotheses"
    empty = CounterfactualResult(loop_id="l", cycle=1, incumbent="v1")
    line = _line("check_hypotheses", {"counterfactuals": empty})
    assert line == "check_hypotheses nothing to check"
