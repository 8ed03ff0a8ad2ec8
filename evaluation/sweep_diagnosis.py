"""Where targeting lost to uniform on a drawn world: discovery, plan, gate or training, from facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

Stage = Literal["discovery", "plan", "gate", "training"]

LOW = ("lowest", "low")
HIGH = ("high", "highest")
# A world condition value -> the discovery attribute bins that point at it: a loop slice with one
# of these bins "touches" the value. The direction follows the offline analyst and the
# counterfactual edits (tools/generator/counterfactual_edits.SCENE_FACTORS): night and dusk are
# dark, fog is hazy, low-contrast or soft, rain streaked, snow speckled, far objects small, a crowd
# overlapping; day, mid and sparse are their opposites. Clear weather is the absence of
# haze, streaks and specks: no one bin points at it, so it is never judged touched or missed.
SCENE_ATTRIBUTES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "lighting=night": (("brightness", LOW),),
    "lighting=dusk": (("brightness", LOW),),
    "lighting=day": (("brightness", HIGH),),
    "weather=fog": (("haze", HIGH), ("contrast", LOW), ("sharpness", LOW)),
    "weather=rain": (("streaks", HIGH),),
    "weather=snow": (("specks", HIGH),),
    "weather=clear": (),
    "distance=far": (("box_size", LOW),),
    "distance=mid": (("box_size", ("mid",)),),
    "distance=near": (("box_size", HIGH),),
    "crowding=dense": (("overlap", HIGH),),
    "crowding=sparse": (("overlap", LOW),),
}


class LoopSlice(BaseModel):
    """A slice the loop's discovery named on `val`: its name and its attribute bins."""

    name: str
    conditions: dict[str, str] = Field(description="attribute -> bin (or class -> name)")


class CycleFacts(BaseModel):
    """One cycle of one arm, as its workspace recorded it."""

    cycle: int
    loop_slices: list[LoopSlice] = Field(default_factory=list)
    approved: bool = False
    promoted: bool = False
    images: int = Field(0, description="images of the approved batch whose scene is known")
    scenes: dict[str, int] = Field(
        default_factory=dict,
        description="'condition=value' -> how many of those images' scenes carry it",
    )


class ArmFacts(BaseModel):
    """One arm's cycles, and its gated model and last candidate on the worst two (test)."""

    cycles: list[CycleFacts] = Field(default_factory=list)
    worst2: float | None = Field(None, description="gated model: mean recall on the worst two")
    candidate_worst2: float | None = Field(
        None, description="last candidate, promoted or not: mean recall on the worst two"
    )


class WorldFacts(BaseModel):
    """What one world's stored arms say, read back without training anything."""

    worst_slices: list[str]
    field_share: dict[str, float | None] = Field(
        default_factory=dict, description="each worst value's share of the field (train prior)"
    )
    arms: dict[str, ArmFacts] = Field(default_factory=dict)


class Diagnosis(BaseModel):
    """Where targeted lost against uniform on one world (`lost_at` None: it was ahead)."""

    lost_at: Stage | None
    why: str
    touched: list[str] = Field(description="worst values a loop slice of targeted pointed at")
    aim: dict[str, dict[str, float | None]] = Field(
        description="arm -> worst value -> share of the arm's approved images carrying it"
    )
    promoted: dict[str, tuple[int, int]] = Field(description="arm -> (cycles promoted, cycles)")
    gate_loss: dict[str, float | None] = Field(
        description="arm -> last candidate minus gated model on the worst two"
    )
    ahead: dict[str, float | None] = Field(
        description="gated / last_candidate: targeted minus uniform on the worst two"
    )


def touched(slices: Sequence[LoopSlice], value: str) -> bool:
    """Whether any of `slices` has a bin that points at the world value (SCENE_ATTRIBUTES)."""
    pointers = SCENE_ATTRIBUTES.get(value, ())
    return any(s.conditions.get(attribute) in bins for s in slices for attribute, bins in pointers)


def aim_shares(arm: ArmFacts, values: Sequence[str]) -> dict[str, float | None]:
    """Per value, the share of the arm's approved images (all cycles) whose scene carries it."""
    images = sum(c.images for c in arm.cycles)
    return {
        v: (sum(c.scenes.get(v, 0) for c in arm.cycles) / images if images else None)
        for v in values
    }


def diagnose(
    facts: WorldFacts, ours: str = "targeted", theirs: str = "uniform"
) -> Diagnosis | None:
    """Where `ours` lost against `theirs` on the world's worst two, in the loop's own order.

    Not ahead means its gated model's mean recall on the worst two was not above theirs (equal to
    comparing net gains: both subtract the same `none`). Then the first stage that lost it:

    - `gate`: its last candidate was ahead of theirs; the gate kept the model that was not.
    - `discovery`: no loop slice of any cycle pointed at a worst value (SCENE_ATTRIBUTES; values
      no bin points at are left out, and with none left this stage is not judged).
    - `plan`: discovery pointed at them, but its approved images carried the worst values no more
      often than theirs (the mean share over the two values).
    - `training`: it aimed more of its images at them, and its last candidate was still not ahead.

    None when either arm is missing or unmeasured on the worst two.
    """
    us, them = facts.arms.get(ours), facts.arms.get(theirs)
    if us is None or them is None or us.worst2 is None or them.worst2 is None:
        return None
    values = facts.worst_slices
    aim = {ours: aim_shares(us, values), theirs: aim_shares(them, values)}
    slices = [s for c in us.cycles for s in c.loop_slices]
    pointed = [v for v in values if touched(slices, v)]
    gated = us.worst2 - them.worst2
    last = _difference(us.candidate_worst2, them.candidate_worst2)
    stage, why = _stage(gated, last, values, pointed, _mean(aim[ours]), _mean(aim[theirs]))
    return Diagnosis(
        lost_at=stage,
        why=why,
        touched=pointed,
        aim=aim,
        promoted={arm: _promoted(facts.arms[arm]) for arm in (ours, theirs)},
        gate_loss={arm: _gate_loss(facts.arms[arm]) for arm in (ours, theirs)},
        ahead={"gated": gated, "last_candidate": last},
    )


def _stage(
    gated: float,
    last: float | None,
    values: Sequence[str],
    pointed: Sequence[str],
    our_aim: float | None,
    their_aim: float | None,
) -> tuple[Stage | None, str]:
    if gated > 0:
        return None, f"ahead by {gated:+.3f} on the worst two (gated)"
    if last is not None and last > 0:
        return (
            "gate",
            f"its last candidate was ahead by {last:+.3f}; the gated model by {gated:+.3f}",
        )
    judged = [v for v in values if SCENE_ATTRIBUTES.get(v)]
    if judged and not pointed:
        return "discovery", f"no loop slice pointed at {', '.join(judged)}"
    if our_aim is None or (their_aim is not None and our_aim <= their_aim):
        return (
            "plan",
            f"aimed {_share(our_aim)} of its images at the worst two, uniform {_share(their_aim)}",
        )
    return "training", (
        f"aimed {_share(our_aim)} (uniform {_share(their_aim)}), last candidate "
        f"{'not measured' if last is None else f'{last:+.3f}'}"
    )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _mean(shares: Mapping[str, float | None]) -> float | None:
    """The mean share over the worst values; None when the arm had no approved image."""
    present = [s for s in shares.values() if s is not None]
    return sum(present) / len(present) if present else None


def _promoted(arm: ArmFacts) -> tuple[int, int]:
    return sum(c.promoted for c in arm.cycles), len(arm.cycles)


def _gate_loss(arm: ArmFacts) -> float | None:
    return _difference(arm.candidate_worst2, arm.worst2)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(diagnoses: Mapping[str, Diagnosis], facts: Mapping[str, WorldFacts]) -> str:
    """sweep.md's section: per world its worst two and where targeting lost, if it did."""
    lines = [
        "## Where targeting lost",
        "",
        "Per world: each worst value's share of the field (train prior) and of each arm's "
        "approved images (aim, targeted / uniform; scenes as rendered), cycles promoted, gate "
        "loss (last candidate minus gated model, mean recall on the worst two) and the first "
        "stage that lost the worst two to uniform (evaluation/sweep_diagnosis.py says how).",
        "",
        "| world | worst two | field share | loop touched | aim t / u | promoted t / u "
        "| gate loss t / u | lost at |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, found in diagnoses.items():
        values = facts[name].worst_slices
        field = ", ".join(_share(facts[name].field_share.get(v)) for v in values)
        aim = ", ".join(
            " / ".join(_share(shares[v]) for shares in found.aim.values()) for v in values
        )
        promoted = " / ".join(f"{k}/{n}" for k, n in found.promoted.values())
        loss = " / ".join(_signed(v) for v in found.gate_loss.values())
        lines.append(
            f"| {name} | {', '.join(values)} | {field} | {', '.join(found.touched) or '-'} | "
            f"{aim} | {promoted} | {loss} | {found.lost_at or 'ahead'} |"
        )
    if not diagnoses:
        lines.append("| - | no world with both targeted and uniform finished | | | | | | |")
    return "\n".join(lines) + "\n"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
