"""Exports approved analyses with their evidence images as a ShareGPT JSONL set for LoRA-tuning the analyst."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.ports import Deps
from tools.analyst.base import SliceEvidence
from tools.analyst.prompting import slice_text, system_prompt

ANSWER_KEYS = ("what_fails", "why", "conditions", "classes", "confidence", "suggested_prompts")


@dataclass(frozen=True)
class AnalysesExport:
    """What was written, and what was left out and why: a tuning set holds the model's own
    answers to the prompts it saw, nothing else."""

    written: int
    fallbacks: int = 0  # the offline analyst answered for the model: not the model's words
    unrecorded: int = 0  # its prompt not recorded (an older run) or its images gone

    def sentence(self, target: Path) -> str:
        left = []
        if self.fallbacks:
            left.append(f"{self.fallbacks} offline fallbacks")
        if self.unrecorded:
            left.append(f"{self.unrecorded} without the prompt or images the analyst saw")
        out = f" (left out: {', '.join(left)})" if left else ""
        return f"{self.written} analyses written to {target}{out}"


def approved_cycles(deps: Deps) -> set[tuple[str, int]]:
    """(loop, cycle) pairs whose batch a person or the policy approved."""
    return {
        (e.loop_id, e.cycle)
        for e in deps.registry.events(limit=1_000_000)
        if e.kind == "batch_decided" and e.payload.get("approved")
    }


def sharegpt_records(deps: Deps) -> tuple[list[dict[str, Any]], AnalysesExport]:
    """One conversation per hypothesis of an approved cycle: the prompt and evidence images the
    analyst was shown in, its answer out. Offline fallbacks, and answers whose prompt or images
    are not on record, are left out and counted."""
    approved = approved_cycles(deps)
    records = []
    fallbacks = unrecorded = 0
    for event in deps.registry.events(limit=1_000_000):
        if event.kind != "analysis" or (event.loop_id, event.cycle) not in approved:
            continue
        shown = {
            e.slice_name: e
            for e in (SliceEvidence.model_validate(v) for v in event.payload.get("evidence", []))
        }
        for hypothesis in event.payload.get("hypotheses", []):
            if hypothesis.get("fallback") is not None:
                fallbacks += 1
                continue
            evidence = shown.get(hypothesis["slice_name"])
            if evidence is None or not all(Path(p).is_file() for p in evidence.example_paths):
                unrecorded += 1
                continue
            images = list(evidence.example_paths)
            answer = {k: hypothesis[k] for k in ANSWER_KEYS}
            records.append(
                {
                    "messages": [
                        {"role": "system", "content": system_prompt()},
                        {
                            "role": "user",
                            "content": "<image>" * len(images)
                            + slice_text(evidence, list(deps.settings.classes), None),
                        },
                        {"role": "assistant", "content": json.dumps(answer)},
                    ],
                    "images": images,
                }
            )
    return records, AnalysesExport(len(records), fallbacks, unrecorded)


def export_analyses(deps: Deps, out: Path) -> AnalysesExport:
    records, result = sharegpt_records(deps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    return result
