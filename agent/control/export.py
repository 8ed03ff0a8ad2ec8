"""Exports approved analyses with their evidence images as a ShareGPT JSONL set for LoRA-tuning the analyst."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.deps import Deps
from tools.analyst.base import SliceEvidence
from tools.analyst.prompting import slice_text, system_prompt


def approved_cycles(deps: Deps) -> set[tuple[str, int]]:
    """(loop, cycle) pairs whose batch a person or the policy approved."""
    return {
        (e.loop_id, e.cycle)
        for e in deps.registry.events(limit=1_000_000)
        if e.kind == "batch_decided" and e.payload.get("approved")
    }


def sharegpt_records(deps: Deps) -> list[dict[str, Any]]:
    """One conversation per hypothesis of an approved cycle: evidence images in, the answer out."""
    approved = approved_cycles(deps)
    records = []
    for event in deps.registry.events(limit=1_000_000):
        if event.kind != "analysis" or (event.loop_id, event.cycle) not in approved:
            continue
        for hypothesis in event.payload.get("hypotheses", []):
            folder = deps.workspace.evidence_dir(event.cycle, hypothesis["slice_name"])
            images = sorted(str(p) for p in folder.glob("*.png")) if folder.is_dir() else []
            evidence = SliceEvidence(
                slice_name=hypothesis["slice_name"],
                conditions={},
                support=0,
                recall=0.0,
                deficit=0.0,
                stats={},
            )
            answer = {
                k: hypothesis[k]
                for k in (
                    "what_fails",
                    "why",
                    "conditions",
                    "classes",
                    "confidence",
                    "suggested_prompts",
                )
            }
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
    return records


def export_analyses(deps: Deps, out: Path) -> int:
    records = sharegpt_records(deps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    return len(records)
