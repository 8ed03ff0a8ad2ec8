"""Decisions from the FiftyOne App: the same decision function as the CLI and API, then a resume."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent.bootstrap import build_deps
from agent.control.queries import review_summary, waiting_batch_id
from agent.control.runner import LoopDriver
from agent.settings import Settings
from tools.before_after import LEGEND

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
REVIEW_PANEL = "failforge_review_panel"  # the panel's name in the plugin, opened by `failforge app`


RESUME_LOG = "app-resume.log"


def launch_resume(workspace: Path) -> subprocess.Popen[bytes]:
    """Resume the loop in its own process (training must not run inside the App's server); it
    delivers the recorded decision. Its output goes to reports/app-resume.log, for when it fails."""
    log_file = workspace / "reports" / RESUME_LOG
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            # `python -m agent`, not `-m agent.entry.cli`: run as __main__, cli.py would be a second copy
            # of the module and the other command modules would register on the first one.
            [sys.executable, "-m", "agent", "resume", "--workspace", str(workspace)],
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _workspace_driver(workspace: Path | None = None) -> LoopDriver:
    root = workspace or Path(os.environ.get("FAILFORGE_WORKSPACE", "."))
    return LoopDriver(build_deps(Settings.load(root)))


def pending_batch(workspace: Path | None = None) -> str | None:
    """The batch the workspace's loop waits for: the review form's default on any dataset."""
    try:
        return waiting_batch_id(_workspace_driver(workspace))
    except Exception:  # no workspace here, or no loop: the reviewer types the id
        return None


def decide_from_app(
    batch_id: str, approved: bool, by: str, reason: str, workspace: Path | None = None
) -> dict[str, Any]:
    """Record the decision (exactly one wins), then resume the waiting loop in the background."""
    driver = _workspace_driver(workspace)
    decision = driver.write_decision(batch_id, approved, by, reason)
    launch_resume(driver.deps.workspace.root)
    return {"batch_id": batch_id, **decision.model_dump()}


def summary_for_app(workspace: Path | None = None) -> dict[str, Any]:
    """The review panel's content (see `review_summary`), or why there is none."""
    try:
        return review_summary(_workspace_driver(workspace))
    except Exception as error:  # no workspace here: the panel says so instead of failing
        return {"error": f"{type(error).__name__}: {error}"}


def _cycle_line(last: dict[str, Any]) -> str:
    """One sentence on how the last cycle ended, shown once a decision has run its course."""
    decided = (
        f"batch {last['batch_id']} approved ({last['images']} images)"
        if last["approved"]
        else f"batch {last['batch_id']} rejected ({'; '.join(last['reasons'])}), nothing trained"
    )
    trained = ""
    if last["candidate"]:
        verdict = "promoted" if last["promoted"] else "not promoted"
        trained = f"; candidate **{last['candidate']}** {verdict}"
        reasons = last["reasons"]
        if reasons:  # the gate lists every slice that fell: the first two, then a count
            more = f"; and {len(reasons) - 2} more" if len(reasons) > 2 else ""
            trained += f" ({'; '.join(reasons[:2])}{more})"
    return f"Cycle {last['cycle']}: {decided}{trained}."


def review_markdown(summary: dict[str, Any]) -> str:
    """The panel's text: the loop, then the batch with its hypotheses, slices and scores."""
    if "error" in summary:
        return f"**failforge** cannot read its workspace: {summary['error']}"
    lines = [
        f"##### Loop {summary.get('loop_id') or '(none)'}",
        f"Incumbent **{summary.get('incumbent') or '-'}**, cycle {summary.get('cycle') or '-'}; "
        + (
            f"waiting for a decision on **{summary['waiting_for']}**."
            if summary.get("waiting_for")
            else f"stopped: {summary['stop_reason']}."
            if summary.get("stop_reason")
            else "not waiting for a decision."
        ),
    ]
    last = summary.get("last_cycle")
    if last:
        lines.append(_cycle_line(last))
    events = summary.get("events") or []
    if events:
        lines.append(
            "Last events: " + ", ".join(f"{e['kind']} (cycle {e['cycle']})" for e in events)
        )
    batch = summary.get("batch")
    if not batch:
        return "\n\n".join(lines)
    lines += [
        f"##### Batch {batch['batch_id']}",
        f"{batch['images']} images proposed of {batch['generated']} generated; "
        f"{batch['label_flagged']} flagged by label QA. Tag an image `reject` to leave it out.",
        _label_errors_line(batch),
        _as_asked_line(batch),
        *_batch_tables(batch, Path(summary["workspace"]) if summary.get("workspace") else None),
    ]
    if batch["earlier_outcomes"]:
        lines.append(
            "Earlier hypotheses: "
            + ", ".join(
                f"cycle {o['cycle']} {o['slice']}: {o['verdict']}"
                for o in batch["earlier_outcomes"]
            )
        )
    explored = exploration_line(batch.get("exploration"))
    return "\n\n".join([*lines, explored] if explored else lines)


def exploration_line(explored: dict[str, Any] | None) -> str:
    """What the batch explores and why (loop.exploration: thompson), or nothing."""
    if not explored or not explored["images"]:
        return ""
    values = ", ".join(f"{k}: {n}" for k, n in explored["explored"].items())
    return (
        f"Exploring {explored['images']} of {explored['of']} images ({values}), "
        f"conditions no hypothesis blames: {explored['reason']}."
    )


def _batch_tables(batch: dict[str, Any], workspace: Path | None = None) -> list[str]:
    """The batch's hypotheses, their checks, target slices and quality scores, a markdown
    table each (the checks' strips named as files under `workspace`)."""
    hypotheses = [
        "| hypothesis | why | blamed conditions | confidence |",
        "|---|---|---|---|",
        *(
            f"| {h['slice']}: {h['what_fails']} | {h['why']} | "
            f"{', '.join(f'{k}={v}' for k, v in h['conditions'].items()) or '-'} | "
            f"{h['confidence']:.2f} |"
            for h in batch["hypotheses"]
        ),
    ]
    slices = [
        "| target slice | val recall | objects | images asked |",
        "|---|---|---|---|",
        *(
            f"| {s['slice']} | {s['val_recall']:.3f} | {s['objects']} | {s['images_asked']} |"
            for s in batch["slices"]
        ),
    ]
    scores = [
        "| quality score | value | threshold | reading |",
        "|---|---|---|---|",
        *(
            f"| {q['score']} | "
            + ("-" if q["value"] is None else f"{q['value']:.3f}")
            + f"{' (over)' if q['over'] else ''} | {q['threshold']:.3f} | {q['reading']} |"
            for q in batch["scores"]
        ),
    ]
    return [
        "\n".join(hypotheses),
        checks_markdown(batch.get("hypothesis_checks") or [], workspace),
        "\n".join(slices),
        "\n".join(scores),
    ]


STRIPS_LEGEND = f"Before/after strips, a few misses each: {LEGEND}"


def strip_files(checks: list[dict[str, Any]], workspace: Path | None) -> list[tuple[str, Path]]:
    """(`slice (blamed)`, file) for each check line with a before/after strip; its path is
    relative to the workspace folder (joined to `workspace` when given)."""
    return [
        (f"{c['slice']} ({c['blamed'] or '-'})", (workspace or Path()) / c["strip"])
        for c in checks
        if c.get("strip")
    ]


def strip_images(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, PNG data URI) for each strip of the waiting batch's checks, for the App's panel:
    its markdown shows no `data:` image (FiftyOne renders panel markdown with react-markdown,
    which lets only http, https, mailto and tel through), an image view does. A strip whose
    file is gone is left out."""
    batch = summary.get("batch") or {}
    root = Path(summary["workspace"]) if summary.get("workspace") else None
    shown = []
    for label, path in strip_files(batch.get("hypothesis_checks") or [], root):
        if path.is_file():
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            shown.append((f"Before/after: {label}", f"data:image/png;base64,{encoded}"))
    return shown


def checks_markdown(checks: list[dict[str, Any]], workspace: Path | None = None) -> str:
    """Each hypothesis as tested on its misses before planning: misses found after removing the
    blamed factor and after a placebo of the same strength, the difference's 95% interval; then
    the file of each line's before/after strip."""
    if not checks:
        return ""
    rows = [
        "| checked on its misses | blamed | found after edit | after placebo | "
        "difference (95% CI) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in checks:
        if c["difference"] is None:
            figures = f"- | - | {c['reason']}"
        else:
            figures = (
                f"{c['edit_recovered']:.0%} of {c['misses']} | {c['placebo_recovered']:.0%} | "
                f"{c['difference']:+.2f} ({c['low']:+.2f} to {c['high']:+.2f})"
            )
        rows.append(f"| {c['slice']} | {c['blamed'] or '-'} | {figures} | **{c['verdict']}** |")
    strips = strip_files(checks, workspace)
    if not strips:
        return "\n".join(rows)
    listed = [f"- {label}: `{path}`" for label, path in strips]
    return "\n".join(rows) + f"\n\n{STRIPS_LEGEND}:\n\n" + "\n".join(listed)


def _label_errors_line(batch: dict[str, Any]) -> str:
    """The images the labeller could not label, with its reasons (missing weights, memory)."""
    errors = batch.get("label_errors") or {}
    if not errors:
        return ""
    reasons = "; ".join(f"{reason} ({n})" for reason, n in errors.items())
    return f"{sum(errors.values())} images could not be labelled: {reasons}."


def _as_asked_line(batch: dict[str, Any]) -> str:
    """How many images delivered what their request asked, and what came out otherwise."""
    if batch.get("as_asked") is None:
        return ""
    otherwise = ", ".join(f"{k} in {n}" for k, n in (batch.get("not_as_asked") or {}).items())
    return f"{batch['as_asked']:.0%} of the images came out as asked" + (
        f" (otherwise: {otherwise})." if otherwise else "."
    )
