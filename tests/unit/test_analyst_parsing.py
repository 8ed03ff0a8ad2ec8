"""Parsing a vision-language model's raw text: a table of real-looking answers, broken ones included."""

from __future__ import annotations

import pytest

from tools.analyst.parsing import AnswerError, extract_json_text, parse_answer, rescale_box

CLASSES = ["car", "person", "sign"]
VALID = (
    '{"what_fails": "far people", "why": "too small at night", "conditions": '
    '{"lighting": "night", "distance": "far"}, "classes": ["person"], "confidence": 0.8}'
)


@pytest.mark.parametrize(
    "text",
    [
        VALID,
        f"```json\n{VALID}\n```",
        f"Here is my analysis:\n```\n{VALID}\n```\nHope this helps.",
        f"Sure! {VALID} Let me know.",
        VALID[:-1],  # truncated: the closing brace is missing
        VALID.replace('"confidence": 0.8}', '"confidence": 0.8,}'),  # trailing comma
        VALID.replace('"person"]', '"person", "dog"]'),  # a class the detector does not know
    ],
)
def test_answers_that_parse(text: str) -> None:
    answer = parse_answer(text, CLASSES)
    assert answer.conditions.given() == {"lighting": "night", "distance": "far"}
    assert answer.classes == ["person"] and answer.confidence == 0.8


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I cannot see any problem.", "no JSON object"),
        ('{"what_fails": "x", "why": "y"}', "confidence"),
        ('{"what_fails": "x", "why": "y", "confidence": 3}', "confidence"),
        (
            '{"what_fails": "x", "why": "y", "confidence": 0.5, "conditions": {"lighting": "noon"}}',
            "conditions.lighting",
        ),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_answers_that_do_not_parse_say_why(text: str, reason: str) -> None:
    with pytest.raises(AnswerError, match=reason):
        parse_answer(text, CLASSES)


def test_regions_are_read_and_fences_preferred() -> None:
    text = (
        'note {not json}\n```json\n{"what_fails": "a", "why": "b", "confidence": 0.2, '
        '"regions": [{"bbox_2d": [10, 20, 30, 40], "label": "person"}]}\n```'
    )
    assert extract_json_text(text).startswith('{"what_fails"')
    assert parse_answer(text, CLASSES).regions[0].bbox_2d == (10, 20, 30, 40)


@pytest.mark.parametrize(
    ("box", "input_wh", "original_wh", "expected"),
    [
        ((28, 56, 112, 140), (448, 448), (160, 160), (10.0, 20.0, 40.0, 50.0)),
        ((112, 140, 28, 56), (448, 448), (160, 160), (10.0, 20.0, 40.0, 50.0)),  # corners swapped
        ((-20, 0, 600, 448), (448, 448), (160, 160), (0.0, 0.0, 160.0, 160.0)),  # clipped
        ((0, 0, 224, 112), (448, 224), (640, 320), (0.0, 0.0, 320.0, 160.0)),
    ],
)
def test_boxes_are_rescaled_from_the_model_input_to_the_original(
    box, input_wh, original_wh, expected
) -> None:
    assert rescale_box(box, input_wh, original_wh) == pytest.approx(expected)


def test_a_fallback_is_labelled_as_the_fallback_with_the_error(tmp_path) -> None:
    from agent.state import LoopState
    from agent.steps.failures import analyze
    from tests.fakes import fake_deps
    from tools.analyst.base import SliceEvidence
    from tools.analyst.robust import analyze_robustly

    def evidence(name: str) -> SliceEvidence:
        return SliceEvidence(
            slice_name=name, conditions={"brightness": "lowest"}, support=30, recall=0.3,
            deficit=0.3, stats={"brightness": 20.0}, overall_stats={"brightness": 110.0},
        )  # fmt: skip

    answers = iter([(VALID, None), ("no json here", None), ("still none", None)])
    analysis = analyze_robustly(
        "openai", [evidence("a"), evidence("b")], CLASSES, lambda e, c: next(answers)
    )
    first, second = analysis.hypotheses
    assert first.fallback is None and second.fallback and "JSON" in second.fallback
    assert analysis.analyst == "openai (offline for 1 of 2 slices)"

    # The analyze step logs each fallback with its loop and cycle.
    class Replayed:
        def analyze(self, slices, classes):
            return analysis

    deps = fake_deps(tmp_path)
    deps.analyst = Replayed()
    analyze(deps, LoopState(loop_id="loopx", max_cycles=2, budget=10, cycle=2))
    (event,) = [e for e in deps.registry.events() if e.kind == "analyst_fallback"]
    assert (event.loop_id, event.cycle, event.payload["slice"]) == ("loopx", 2, "b")
