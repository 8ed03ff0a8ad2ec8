"""The FiftyOne review operators: one decision function, and a resume that delivers the decision."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from agent.control.runner import LoopDriver
from agent.entry.review import PLUGINS_DIR, RESUME_LOG, launch_resume
from agent.ports import Deps
from tests.fakes import FakeWork, fake_deps


def test_the_plugin_declares_its_operators() -> None:
    manifest = yaml.safe_load((PLUGINS_DIR / "failforge_review" / "fiftyone.yml").read_text())
    assert manifest["operators"] == ["approve_batch", "reject_batch"]


@pytest.mark.parametrize("approved", [True, False])
def test_operators_decide_through_the_shared_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, approved: bool
) -> None:
    from agent.entry.plugins.failforge_review import ApproveBatch, RejectBatch

    fake = FakeWork()
    deps = fake_deps(tmp_path, fake)
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    resumed: list[Path] = []
    monkeypatch.setattr("agent.entry.review.build_deps", lambda settings: deps)
    monkeypatch.setattr("agent.entry.review.launch_resume", lambda root: resumed.append(root))
    operator = ApproveBatch() if approved else RejectBatch()
    assert operator.config.label == ("Approve batch" if approved else "Reject batch")
    ctx = SimpleNamespace(
        params={"batch_id": waiting.batch_id, "by": "carol", "reason": "cars look painted"}
    )
    result = operator.execute(ctx)
    assert result["approved"] is approved and resumed == [deps.workspace.root]
    batch = deps.registry.batch(waiting.batch_id)
    assert batch.status == ("approved" if approved else "rejected") and batch.decided_by == "carol"
    again = operator.execute(ctx)
    assert "already" in again["error"] and len(resumed) == 1
    # What the background `failforge resume` does: no decision passed, the recorded one delivered.
    outcome = LoopDriver(deps).resume()
    assert outcome.finished and outcome.waiting is None
    assert fake.calls["retrain"] == (1 if approved else 0)
    assert outcome.state is not None and outcome.state.history[0].approved is approved


def test_the_apps_background_resume_runs_the_resume_command(tmp_path: Path) -> None:
    """The real process the App starts: it must reach `failforge resume` (it once answered
    "No such command") and leave its output where a person can read it."""
    process = launch_resume(tmp_path)
    assert process.wait(timeout=120) == 2  # no workspace here: a usage error, said in one sentence
    log = (tmp_path / "reports" / RESUME_LOG).read_text()
    assert "No such command" not in log and "failforge" in log and "Traceback" not in log


def test_the_review_form_offers_the_batch_the_loop_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.plugins.failforge_review import ApproveBatch

    deps = fake_deps(tmp_path)
    monkeypatch.setattr("agent.entry.review.build_deps", lambda settings: deps)
    operator = ApproveBatch()

    class FieldView:  # the field dataset's view has no batch_id field
        def distinct(self, field: str) -> list[str]:
            raise ValueError(field)

    def default() -> object:
        form = operator.resolve_input(SimpleNamespace(view=FieldView())).to_json()
        return form["type"]["properties"]["batch_id"]["default"]

    assert default() is None  # no loop waits yet
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None and default() == waiting.batch_id


class _State:
    """Stands in for ctx.panel.state: attributes that default to None."""

    def __getattr__(self, name: str) -> object:
        return None


class _Ops:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def open_dataset(self, name: str) -> None:
        self.calls.append(("open_dataset", {"dataset": name}))

    def set_view(self, view: object = None, name: str | None = None) -> None:
        self.calls.append(("set_view", {"name": name}))


def _panel_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deps:
    """A workspace the panel reads (as the App's server does), its loop's work faked."""
    deps = fake_deps(tmp_path)
    deps.datasets = SimpleNamespace(field_name="ff-field", synthetic_name="ff-synthetic")  # type: ignore[assignment]
    deps.work = FakeWork().bind(deps)
    monkeypatch.setattr("agent.entry.review.build_deps", lambda settings: deps)
    return deps


def test_the_review_panel_shows_the_waiting_batch_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.plugins.failforge_review import ReviewPanel

    deps = _panel_workspace(tmp_path, monkeypatch)
    manifest = yaml.safe_load((PLUGINS_DIR / "failforge_review" / "fiftyone.yml").read_text())
    assert manifest["panels"] == ["failforge_review_panel"]
    from agent.entry.plugins.failforge_review import ApproveBatch, RejectBatch

    # A decision trains or not: the App must not treat its operators as safe.
    assert {op().config.risk_level.value for op in (ApproveBatch, RejectBatch)} == {"high"}
    panel = ReviewPanel()
    ctx = SimpleNamespace(panel=SimpleNamespace(state=_State()), ops=_Ops(), params={})

    panel.on_load(ctx)
    idle = panel.render(ctx).to_json()
    assert "not waiting for a decision" in idle["type"]["properties"]["review"]["default"]
    assert "approve" not in idle["type"]["properties"]

    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    panel.refresh(ctx)
    shown = panel.render(ctx).to_json()["type"]["properties"]
    text = shown["review"]["default"]
    assert f"waiting for a decision on **{waiting.batch_id}**" in text
    assert "| brightness=low: dark | night | lighting=night | 0.80 |" in text  # the hypothesis
    assert "| brightness=low | 0.300 | 40 | 4 |" in text  # slice, val recall, objects, images
    assert "| unvaried | 0.000 | 0.200 |" in text  # each score against its threshold
    assert {"show_batch", "evidence_0", "misses_0", "approve", "reject"} <= set(shown)
    assert shown["approve"]["view"]["params"] == {"batch_id": waiting.batch_id}
    panel.show_batch(ctx)
    assert ctx.ops.calls == [
        ("open_dataset", {"dataset": "ff-synthetic"}),
        ("set_view", {"name": f"batch {waiting.batch_id}"}),
    ]


def test_the_review_panel_shows_each_checks_before_after_strip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.plugins.failforge_review import ReviewPanel

    deps = _panel_workspace(tmp_path, monkeypatch)
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    [line] = waiting.hypothesis_checks
    assert line.strip is not None
    strip = deps.workspace.root / line.strip
    panel = ReviewPanel()
    ctx = SimpleNamespace(panel=SimpleNamespace(state=_State()), ops=_Ops(), params={})
    panel.on_load(ctx)
    shown = panel.render(ctx).to_json()["type"]["properties"]
    # Named in the review's text, as the file it is...
    assert f"- brightness=low (lighting=night): `{strip.resolve()}`" in shown["review"]["default"]
    # ...and shown as an image: the file's own bytes, in an image view.
    image = shown["strip_0"]
    assert image["view"]["name"] == "ImageView"
    assert image["view"]["label"] == "Before/after: brightness=low (lighting=night)"
    prefix = "data:image/png;base64,"
    assert image["default"].startswith(prefix)
    assert base64.b64decode(image["default"][len(prefix) :]) == strip.read_bytes()
    # A strip whose file is gone is left out, and the panel still draws.
    strip.unlink()
    assert "strip_0" not in panel.render(ctx).to_json()["type"]["properties"]


class _CountingState(_State):
    """A panel state that counts its updates: each one redraws the panel in the App."""

    def __init__(self) -> None:
        object.__setattr__(self, "updates", 0)

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, "updates", self.updates + 1)
        object.__setattr__(self, name, value)


def test_the_panel_redraws_only_when_the_loop_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.plugins.failforge_review import ReviewPanel

    deps = _panel_workspace(tmp_path, monkeypatch)
    state = _CountingState()
    ctx = SimpleNamespace(panel=SimpleNamespace(state=state), ops=_Ops(), params={})
    panel = ReviewPanel()

    panel.refresh(ctx)
    panel.refresh(ctx)  # the App's timer, nothing new: the reviewer's form stays where it is
    assert state.updates == 1
    LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False)
    panel.refresh(ctx)
    panel.refresh(ctx)
    assert state.updates == 2 and state.summary["waiting_for"]


def test_a_batch_of_another_workspace_is_a_clear_message_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.entry.plugins.failforge_review import ApproveBatch

    deps = fake_deps(tmp_path)
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    monkeypatch.setattr("agent.entry.review.build_deps", lambda settings: deps)
    monkeypatch.setattr("agent.entry.review.launch_resume", lambda root: None)
    shown: list[tuple[str, str]] = []
    ops = SimpleNamespace(notify=lambda message, variant: shown.append((message, variant)))
    before = [(b.id, b.status) for b in deps.registry.batches()]
    result = ApproveBatch().execute(
        SimpleNamespace(params={"batch_id": "loopother-c1-r0", "by": "dave"}, ops=ops)
    )
    assert "There is no batch loopother-c1-r0" in result["error"]
    assert shown == [(result["error"], "error")]
    assert (
        [(b.id, b.status) for b in deps.registry.batches()]
        == before
        == [(waiting.batch_id, "proposed")]
    )


def test_with_tokens_the_app_records_the_reviewer_its_token_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FiftyOne's open-source App has no login: with tokens set, the form asks for the
    reviewer's, and a typed name decides nothing."""
    from agent.entry.plugins.failforge_review import ApproveBatch

    deps = fake_deps(tmp_path, FakeWork(), api_token="t0ken", api_reviewers={"carol": "c-token"})
    waiting = LoopDriver(deps).start(cycles=1, budget=10, auto_approve=False).waiting
    assert waiting is not None
    monkeypatch.setenv("FAILFORGE_WORKSPACE", str(tmp_path))
    monkeypatch.setattr("agent.entry.review.build_deps", lambda settings: deps)
    monkeypatch.setattr("agent.entry.review.launch_resume", lambda root: None)
    operator = ApproveBatch()
    form = operator.resolve_input(SimpleNamespace(view=None)).to_json()["type"]["properties"]
    assert "token" in form and "by" not in form
    shown: list[str] = []
    ops = SimpleNamespace(notify=lambda message, variant: shown.append(message))
    for params in ({"by": "carol"}, {"token": "wrong"}, {"token": "c-tökén"}):
        result = operator.execute(
            SimpleNamespace(params={"batch_id": waiting.batch_id, **params}, ops=ops)
        )
        assert "Missing or wrong token" in result["error"], params
        assert deps.registry.batch(waiting.batch_id).status == "proposed"  # type: ignore[union-attr]
    assert len(shown) == 3
    result = operator.execute(
        SimpleNamespace(params={"batch_id": waiting.batch_id, "token": "c-token"}, ops=ops)
    )
    assert result["approved"] is True
    assert deps.registry.batch(waiting.batch_id).decided_by == "carol"  # type: ignore[union-attr]


def test_the_app_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    import os

    from typer.testing import CliRunner

    from agent.entry.cli import app

    fake_deps(tmp_path)
    result = CliRunner().invoke(app, ["app", "-w", str(tmp_path), "--address", "0.0.0.0"])
    assert result.exit_code == 2
    assert "Refusing to listen on 0.0.0.0 without FAILFORGE_API_TOKEN" in result.output
    # Refused before anything: no workspace left in this process's environment for later code.
    assert "FAILFORGE_WORKSPACE" not in os.environ
