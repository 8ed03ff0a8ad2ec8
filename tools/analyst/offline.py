"""OfflineAnalyst: reads slice statistics like an expert would, with no model and no download."""

from __future__ import annotations

from tools.analyst.attribute_reading import explain_in_attributes
from tools.analyst.base import FailureAnalysis, Hypothesis, SceneConditions, SliceEvidence

# Thresholds on image statistics (luma 0-255, dark-channel haze, Laplacian sharpness),
# read off field cameras: below ~55 mean luma is night, a soft image with a bright dark
# channel is fog, fine high-frequency streaks with low light are rain, with bright light snow.
NIGHT_BRIGHTNESS = 55.0
FOG_SHARPNESS = 150.0
SNOW_BRIGHTNESS = 90.0


def _low(value: str | None) -> bool:
    return value in ("low", "lowest")


def _high(value: str | None) -> bool:
    return value in ("high", "highest")


def _conditions(evidence: SliceEvidence) -> tuple[SceneConditions, list[str]]:
    stats, given = evidence.stats, evidence.conditions
    found: dict[str, str] = {}
    reasons: list[str] = []
    if _low(given.get("brightness")) or stats.get("brightness", 255) < NIGHT_BRIGHTNESS:
        night = stats.get("brightness", 255) < NIGHT_BRIGHTNESS
        found["lighting"] = "night" if night else "dusk"
        reasons.append(f"dark images (mean luma {stats.get('brightness', 0):.0f})")
    if (
        _low(given.get("sharpness")) or _high(given.get("haze")) or _low(given.get("contrast"))
    ) and stats.get("sharpness", 1e9) < FOG_SHARPNESS:
        found["weather"] = "fog"
        reasons.append(f"hazy, soft images (sharpness {stats.get('sharpness', 0):.0f})")
    elif _high(given.get("specks")) or (
        _high(given.get("streaks")) and stats.get("brightness", 0) >= SNOW_BRIGHTNESS
    ):
        found["weather"] = "snow"
        reasons.append("bright specks over a washed-out scene")
    elif _high(given.get("streaks")):
        found["weather"] = "rain"
        reasons.append("thin slanted streaks over a dim scene")
    if _low(given.get("box_size")):
        found["distance"] = "far"
        reasons.append(f"small objects (size {stats.get('box_size', 0):.2f} of the image)")
    elif _high(given.get("box_size")):
        found["distance"] = "near"
        reasons.append("large, close objects cut by the frame")
    if _high(given.get("overlap")):
        found["crowding"] = "dense"
        reasons.append(f"overlapping objects (IoU {stats.get('overlap', 0):.2f})")
    return SceneConditions.model_validate(found), reasons


class OfflineAnalyst:
    """Maps failure-slice statistics to scene conditions; deterministic, instant, always available."""

    name = "offline"

    def analyze(self, slices: list[SliceEvidence], classes: list[str]) -> FailureAnalysis:
        return FailureAnalysis(analyst=self.name, hypotheses=[self._noted(s) for s in slices])

    def _noted(self, evidence: SliceEvidence) -> Hypothesis:
        """The explanation, with the earlier counterfactual verdict on the slice when there is
        one (the rules do not change with it; a reader should know it was tested)."""
        hypothesis = self.explain(evidence)
        if not evidence.earlier_check:
            return hypothesis
        why = f"{hypothesis.why}; earlier counterfactual check: {evidence.earlier_check}"
        return hypothesis.model_copy(update={"why": why})

    def explain(self, evidence: SliceEvidence) -> Hypothesis:
        if evidence.vocabulary == "attributes":  # a user's photographs: no street to speak of
            return explain_in_attributes(evidence)
        conditions, reasons = _conditions(evidence)
        affected = [evidence.conditions["class"]] if "class" in evidence.conditions else []
        subject = affected[0] if affected else "objects"
        what = (
            f"{subject} in slice '{evidence.slice_name}' are missed (recall {evidence.recall:.2f})"
        )
        why = "; ".join(reasons) or "no visual cause stands out in the statistics"
        # Confident when the deficit is large and the slice maps onto known conditions.
        confidence = min(1.0, 0.3 + evidence.deficit + 0.1 * len(conditions.given()))
        scene = ", ".join(f"{v}" for v in conditions.given().values()) or "varied conditions"
        return Hypothesis(
            slice_name=evidence.slice_name,
            what_fails=what,
            why=why,
            conditions=conditions,
            classes=affected,
            evidence_ids=evidence.example_ids,
            confidence=round(confidence, 3),
            suggested_prompts=[f"street scene with {subject}, {scene}"],
        )
