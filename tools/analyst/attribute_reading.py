"""The offline analyst's reading of a slice in measured attributes, for a user's own photographs.

A workspace imported from photographs has no world: its slices are bins of attributes measured
from pixels and boxes, its classes are the user's. A hypothesis here blames those attributes
(the slice's own bins, and for a slice that names only a class, the attributes on which its
objects stand far from the rest) and never a street condition.
"""

from __future__ import annotations

from tools.analyst.base import MEASURED_ATTRIBUTES, Hypothesis, SliceEvidence

# How each attribute reads in words, low and high; and its unit for the `why`.
WORDS: dict[str, tuple[str, str]] = {
    "brightness": ("dark images", "bright images"),
    "contrast": ("low-contrast images", "high-contrast images"),
    "haze": ("clear, saturated images", "hazy, washed-out images"),
    "streaks": ("smooth images", "streaked images"),
    "specks": ("speckle-free images", "speckled images"),
    "sharpness": ("soft, blurred images", "sharp, textured images"),
    "box_size": ("small objects", "large objects"),
    "overlap": ("isolated objects", "overlapping objects"),
}
# A class-only slice blames an attribute when its objects' mean differs from all objects' by at
# least this factor (box size and overlap: what copy-paste can change for one class).
INFERRED = ("box_size", "overlap")
FACTOR = 1.5


def _direction(bin_name: str) -> str:
    return (
        "low"
        if bin_name in ("lowest", "low")
        else "high"
        if bin_name in ("high", "highest")
        else ""
    )


def blamed_attributes(evidence: SliceEvidence) -> dict[str, str]:
    """Attribute -> bin the slice is explained by: its own attribute bins, else (a class alone)
    box size or overlap where its objects differ from all objects by `FACTOR` or more."""
    own = {a: v for a, v in evidence.conditions.items() if a in MEASURED_ATTRIBUTES}
    if own:
        return own
    inferred = {}
    for name in INFERRED:
        mine, everyone = evidence.stats.get(name), evidence.overall_stats.get(name)
        if mine is None or everyone is None or everyone <= 0:
            continue
        if mine * FACTOR <= everyone:
            inferred[name] = "low"
        elif mine >= everyone * FACTOR and mine > 0.05:
            inferred[name] = "high"
    return inferred


def _reason(name: str, bin_name: str, evidence: SliceEvidence) -> str:
    low, high = WORDS.get(name, (f"low {name}", f"high {name}"))
    words = low if _direction(bin_name) == "low" else high if _direction(bin_name) else name
    mine, everyone = evidence.stats.get(name), evidence.overall_stats.get(name)
    if mine is None:
        return words
    if everyone is None:
        return f"{words} ({name} {mine:.3g})"
    return f"{words} ({name} {mine:.3g} against {everyone:.3g} over all objects)"


def explain_in_attributes(evidence: SliceEvidence) -> Hypothesis:
    """One hypothesis for a slice of a user's photographs, in its attributes and classes."""
    blamed = blamed_attributes(evidence)
    affected = [evidence.conditions["class"]] if "class" in evidence.conditions else []
    subject = affected[0] if affected else "objects"
    reasons = [_reason(name, value, evidence) for name, value in blamed.items()]
    why = "; ".join(reasons) or "no measured attribute stands out: more examples of the class"
    wanted = ", ".join(
        WORDS.get(n, (n, n))[0 if _direction(v) == "low" else 1] for n, v in blamed.items()
    )
    return Hypothesis(
        slice_name=evidence.slice_name,
        what_fails=(
            f"{subject} in slice '{evidence.slice_name}' are missed "
            f"(recall {evidence.recall:.2f} over {evidence.support} objects)"
        ),
        why=why,
        attributes=blamed,
        classes=affected,
        evidence_ids=evidence.example_ids,
        confidence=round(min(1.0, 0.3 + evidence.deficit + 0.1 * len(blamed)), 3),
        suggested_prompts=[f"{subject}: {wanted}" if wanted else f"more {subject}"],
    )
