"""`failforge doctor`: every backend and engine, configured or not: can it run here (package, weights,
device, server), and why not."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.settings import Settings


@dataclass
class Check:
    """One backend's verdict."""

    tool: str
    backend: str
    ok: bool
    reason: str
    configured: bool = True


def _package(name: str) -> str | None:
    return (
        None if importlib.util.find_spec(name) is not None else f"package '{name}' is not installed"
    )


def _weights(model: str) -> str | None:
    """A local folder or file must exist; a hub id must already be in the local cache."""
    if Path(model).expanduser().exists():
        return None
    if "/" not in model or model.startswith((".", "/", "~")):
        return f"weights '{model}' not found"
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "model_index.json", "preprocessor_config.json"):
        if isinstance(try_to_load_from_cache(model, name), str):
            return None
    return f"'{model}' is not in the local Hugging Face cache and cannot be downloaded here"


def _device(device: str) -> str | None:
    if device in ("cpu", "auto"):
        return None
    import torch

    return None if torch.cuda.is_available() else f"device '{device}' asked for, but no CUDA GPU"


def _verdict(tool: str, backend: str, *problems: str | None) -> Check:
    found = [p for p in problems if p]
    return Check(tool, backend, not found, "; ".join(found) or "ready")


def diagnose(settings: Settings) -> list[Check]:
    """One check per backend of every tool and per engine; `configured` marks the ones in use
    (only those decide the exit code)."""
    checks = [_detector(settings), *_analysts(settings), *_generators(settings)]
    checks += _labelers(settings)
    a = settings.analyst
    in_use = {
        ("detector", settings.detector.backend),
        ("analyst", a.backend),
        ("generator", settings.generator_backend()),
        ("labeler", settings.backends.labeler),
    }
    for check in checks:
        check.configured = (check.tool, check.backend) in in_use
        if (
            (check.tool, check.backend) == ("analyst", "openai")
            and check.ok
            and not check.configured
        ):
            check.reason = f"package present; the server at {a.base_url} is asked only when in use"
    # Engines beyond one machine.
    checks += [
        _postgres(settings),
        _verdict("engine", "ray", _package("ray")),
    ]
    checks[-1].configured = settings.execution.backend == "ray"
    if not checks[-1].configured:
        checks[-1].reason += " (generation and labelling run in-process; execution.backend: ray)"
    return checks


def _postgres(settings: Settings) -> Check:
    """Shared state: configured when state.url is set, then the server must answer."""
    location = settings.state_location()
    check = _verdict("engine", "postgres", _package("psycopg"))
    check.configured = location.shared
    if not location.shared:
        check.reason += " (state is in the workspace's SQLite files; state.url moves it here)"
    elif check.ok:
        try:
            location.connect().close()
        except Exception as error:  # any failure to connect is the verdict, not a crash
            check.ok = False
            from sqlalchemy.engine import make_url

            shown = make_url(location.url or "").render_as_string(hide_password=True)
            check.reason = f"cannot reach {shown}: {str(error).splitlines()[0]}"
    return check


def _analysts(settings: Settings) -> list[Check]:
    a = settings.analyst
    return [
        _verdict("analyst", "offline"),
        _verdict(
            "analyst",
            "qwen",
            _package("transformers"),
            _package("qwen_vl_utils"),
            _weights(a.model),
            _device(a.device),
        ),
        # A server is only asked when it is the one in use (an unused URL may point nowhere).
        _verdict(
            "analyst",
            "openai",
            _package("openai"),
            _reachable(a.base_url) if a.backend == "openai" else None,
        ),
    ]


def _generators(settings: Settings) -> list[Check]:
    g = settings.generator
    pool = settings.backends.retrieval_pool
    return [
        _verdict("generator", "procedural"),
        _verdict(
            "generator",
            "diffusers",
            _package("diffusers"),
            _weights(g.model),
            _weights(g.clip_model),  # each image is checked against its prompt by CLIP
            None if g.cpu_offload else _device(g.device),
        ),
        _verdict(
            "generator",
            "retrieval",
            None
            if pool and (pool / "pool.json").is_file()
            else "backends.retrieval_pool has no pool.json",
        ),
    ]


def _labelers(settings: Settings) -> list[Check]:
    lab = settings.labeler
    return [
        _verdict("labeler", "truth"),
        _verdict(
            "labeler",
            "grounded-sam",
            _package("transformers"),
            _weights(lab.detector_model),
            _weights(lab.sam_model) if lab.sam_model else None,
            _device(lab.device),
        ),
    ]


def _detector(settings: Settings) -> Check:
    d = settings.detector
    model_problem = None if d.model.endswith(".yaml") else _weights(d.model)
    device = "cpu" if d.device == "cpu" else f"cuda:{d.device}" if d.device.isdigit() else d.device
    return _verdict("detector", d.backend, _package("ultralytics"), model_problem, _device(device))


def _reachable(base_url: str) -> str | None:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=2)
        return None
    except urllib.error.HTTPError as error:
        return None if error.code in (401, 403) else f"{base_url} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"{base_url} is not reachable ({getattr(error, 'reason', error)})"


def as_json(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]
