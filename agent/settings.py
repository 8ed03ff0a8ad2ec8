"""Settings: one typed object read once from the workspace's failforge.yaml and FAILFORGE_* variables."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from storage.state import StateLocation
from storage.workspace import WorkspaceError

SETTINGS_FILE = "failforge.yaml"


class DetectorSettings(BaseModel):
    """How the detector is built and trained."""

    backend: Literal["ultralytics"] = Field("ultralytics", description="detector library")
    model: str = Field(
        "yolov8n.yaml",
        description="model yaml (trained from scratch) or your own YOLOv8 detection weights (a "
        ".pt path, relative to the workspace or absolute): the baseline trains from them, each "
        "class the weights know by name keeping its own class channels (ultralytics' remap, any "
        "number of classes); the others start fresh",
    )
    epochs: int = Field(30, ge=1, description="epochs of the baseline training")
    finetune_epochs: int = Field(12, ge=1, description="most epochs of a cycle's fine-tuning")
    # 6000 against 9000 passes on the default world's three seeds (budget 300 in 2 cycles, same
    # baselines): arms 125-149 s against 147-215 s; targeted's net gain over `none` on the two
    # worst slices +0.059 / +0.049 (gated / last candidate) against +0.040 / +0.050, uniform's
    # +0.035 / +0.020 against +0.019 / +0.025. 4500 lost recall in every arm (seed 0).
    finetune_images: int | None = Field(
        6000,
        ge=1,
        description="image passes per fine-tune, the same every cycle however large the data "
        "grows: epochs = passes / training images (at least 1, at most finetune_epochs); "
        "None: always finetune_epochs",
    )
    finetune_lr: float = Field(
        0.0005,
        gt=0,
        description="AdamW's initial rate when fine-tuning the incumbent (from scratch: 0.002)",
    )
    imgsz: int = Field(160, ge=32, description="image size: rendering and the images' long side")
    input_scale: int = Field(
        1,
        ge=1,
        description="the network sees images at imgsz x this (2: a 9 px wide person spans two "
        "stride-8 cells instead of one); training and prediction cost about its square",
    )
    batch: int = Field(16, ge=1, description="16 beat 32 and 8 on test mAP50 at 30 epochs (0.574)")
    nominal_batch: int = Field(
        16,
        ge=1,
        description="images per optimizer step (ultralytics' nbs; gradients accumulate over "
        "nominal_batch / batch batches); ultralytics' 64 left the 30-epoch baseline 285 steps "
        "and a test mAP50 of 0.55-0.60 against 0.66-0.67 with 16 (seeds 0-2; docs: performance)",
    )
    workers: int = Field(2, ge=0, description="dataloader worker processes on a GPU")
    cpu_workers: int = Field(
        0, ge=0, description="... on a CPU, where they compete with training for the same cores"
    )
    threads: int | None = Field(
        None, ge=1, description="cap on torch's CPU threads; default: every core available"
    )
    cache: bool = Field(
        False,
        description="keep decoded training images in memory (measured: 1.66x vs 1.65x without, "
        "within noise at 160 px; ultralytics then prints its own caching bar)",
    )
    cpu_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="CPU training precision; bf16: bfloat16 autocast with the loss in float32 "
        "(1.2-1.4x faster where the CPU computes it natively, AMX or AVX-512 BF16; test mAP50 as "
        "float32's over paired seeds; docs: performance), auto: bf16 where native, else fp32",
    )
    cpu_channels_last: bool = Field(
        True,
        description="CPU training with the weights in channels-last memory, which ultralytics "
        "enables on CUDA only (measured 1.17x faster forward and backward passes in bfloat16, "
        "1.07x in float32, YOLOv8n at 160 px on 2 cores)",
    )
    seed: int = Field(0, description="training seed (ultralytics' own)")
    device: str = Field("cpu", description="'cpu', '0', 'cuda:0', ...")
    predict_conf: float = Field(0.05, gt=0, lt=1, description="lowest confidence stored")
    machine_lock: Path | None = Field(
        Path(tempfile.gettempdir()) / "failforge-detector.lock",
        description="lock file on which the trainings and predictions of every failforge on "
        "this machine take turns (two at once oversubscribe the cores); null: run beside them",
    )


class EvaluationSettings(BaseModel):
    """How predictions are judged."""

    conf_threshold: float = Field(0.25, gt=0, lt=1, description="confidence for recall/precision")
    iou: float = Field(0.5, gt=0, lt=1, description="IoU for a match in recall/precision")


class FiftyOneSettings(BaseModel):
    """Where FiftyOne keeps its database (one MongoDB per database directory)."""

    database_dir: Path | None = Field(None, description="default: <workspace>/fiftyone")
    database_uri: str | None = Field(None, description="a MongoDB server instead of a local one")
    app_port: int = Field(5151, description="port of `failforge app`")


class StateSettings(BaseModel):
    """Where failforge keeps its own state: registry, loop checkpoints, schedules, the loop lock."""

    url: str | None = Field(
        None,
        description="a Postgres database shared by hosts (postgresql+psycopg://user:pw@host/db; "
        "each workspace gets its own schema, the loop lock becomes an advisory lock); "
        "default: SQLite files in the workspace",
    )
    busy_timeout: float = Field(
        30.0, gt=0, description="seconds a SQLite write waits for another process's lock"
    )


class LoopSettings(BaseModel):
    """How a loop spends its budget and when it stops."""

    cycles: int = Field(3, ge=1, description="cycle limit")
    budget: int = Field(450, ge=1, description="approved synthetic images over the whole loop")
    batch_size: int = Field(150, ge=1, description="images generated per cycle")
    top_slices: int = Field(3, ge=1, description="failure slices a cycle aims at")
    min_support: int = Field(20, ge=1, description="fewest objects a failure slice may have")
    min_slice_share: float = Field(0.15, ge=0, le=1, description="budget floor per slice")
    check_hypotheses: bool = Field(
        True,
        description="test each hypothesis on its slice's val misses (blamed factor edited out "
        "vs a placebo) before planning; an unsupported one keeps only the floor, its blame freed",
    )
    slice_shrinkage: float | None = Field(
        None,
        gt=0,
        description="rank failure slices by recall deficit shrunk with this many pseudo-objects "
        "at the overall recall (small, reliable deficits can win) instead of deficit x support",
    )
    slice_deficit: Literal["overall", "beyond_size"] = Field(
        "overall",
        description="what a slice's recall deficit is measured against: the overall recall, or "
        "the recall its objects' box size and overlap predict (failures that size and occlusion "
        "explain rank low: more images at the same resolution rarely fix them)",
    )
    deploy_images: Path | None = Field(
        None,
        description="a folder of unlabelled images from where the detector is deployed (absolute, "
        "or relative to the workspace): their image attributes, never labels, weight failure "
        "slices by how much more common their conditions are there than in the field data",
    )
    explore_slices: int = Field(
        1,
        ge=0,
        description="failure slices named after the top_slices by uncertainty: the highest "
        "optimistic deficit (an upper quantile of the miss rate's Beta posterior minus the "
        "expected miss rate), so a failure val barely holds is aimed at and tested",
    )
    explore_support: int = Field(
        8, ge=1, description="fewest val objects a slice named by uncertainty may have"
    )
    slice_optimism: float = Field(
        0.9,
        gt=0.5,
        lt=1,
        description="the quantile of a slice's miss-rate posterior its optimistic deficit reads",
    )
    explore_share_min: float = Field(
        0.05, ge=0, le=1, description="least share of a batch exploration gets"
    )
    explore_share_max: float = Field(
        0.4,
        ge=0,
        le=1,
        description="most share of a batch exploration gets (agent.steps.exploration: the share "
        "is the chance a Thompson draw of the unexplored conditions beats the aimed slices')",
    )
    edit_share: float = Field(
        0.3, ge=0, le=1, description="share of requests that edit real images"
    )
    max_revisions: int = Field(
        2, ge=0, description="times a batch whose scores are too poor goes back to planning"
    )
    synthetic_share_start: float = Field(
        0.3, gt=0, lt=1, description="most synthetic share of a fine-tune's data in cycle 1"
    )
    synthetic_share_step: float = Field(0.1, ge=0, description="rise of that share per cycle")
    synthetic_share_cap: float = Field(
        0.5, gt=0, lt=1, description="the synthetic share never passes it (oldest images drop)"
    )
    newest_batch_repeats: int = Field(
        2,
        ge=1,
        description="times the newest approved batch appears in a fine-tune's data, in the room "
        "the synthetic share's cap leaves (1: once, like every other batch; 2 measured better "
        "for every arm; docs: benchmarks)",
    )
    patience: int = Field(2, ge=1, description="stop after this many cycles without promotion")
    target_recall: float = Field(0.9, gt=0, le=1, description="stop when the objective reaches it")
    auto_approve: bool = Field(
        False, description="approve batches whose scores pass the quality thresholds"
    )
    strategy: Literal["targeted", "none", "generic", "uniform", "retrieval", "oracle"] = Field(
        "targeted",
        description="targeted: the agent; the others are the benchmark's arms (training only, "
        "class-only generation like the field, uniform conditions, nearest real images from a "
        "pool, the planner aimed at the true worst test slices)",
    )
    concentrate: bool = Field(
        True,
        description="class-only slices take no budget of their own, and edits serve only "
        "lighting/weather hypotheses unless layout_edits fits their layout; measured: with "
        "combine_blame=1 and no class focus, the worst two slices gain 1.6x uniform's (docs: benchmarks)",
    )
    layout_edits: bool = Field(
        False,
        description="edits fit a real image's layout to the blamed distance and crowding "
        "(rescaled about the vanishing point, occluders added; exact boxes), so far and dense "
        "hypotheses get edits too (the diffusers backend can only shrink a real image: its "
        "near or crowded edits keep their layout, counted by the request check); false: edits "
        "keep their layout and serve only lighting and weather hypotheses (under concentrate); "
        "measured on the default world, three seeds: the worst two gain less with it (docs: benchmarks)",
    )
    free_conditions: Literal["uniform", "misses"] = Field(
        "uniform",
        description="conditions a hypothesis does not blame: drawn uniformly, or in proportion "
        "to the slice's miss rate under each (estimated from val pixels, never world truth)",
    )
    subject_classes: Literal["uniform", "misses"] = Field(
        "uniform",
        description="the class each image of a slice without a class of its own is about (its "
        "prompt's subject and, procedurally, the class its scene leans to): drawn uniformly, or "
        "in proportion to the slice's missed val objects of each class (far misses are mostly "
        "people and signs; far cars are found); measured on the default world, three seeds: no "
        "gain, far people and signs found no more often (docs: benchmarks)",
    )
    class_focus: bool = Field(
        False,
        description="with concentrate: class-only slices lend their class as the focus of the "
        "other slices' images; false: they are dropped (measured: a sign focus filled the far "
        "images with signs, and far recall gained less)",
    )
    combine_blame: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of a target slice's free conditions drawn from what the other "
        "hypotheses blame (far and dense together), so each image serves several target slices",
    )
    oracle_slices: dict[str, float] = Field(
        default_factory=dict,
        description="the oracle arm's targets, `condition=value` -> recall deficit; set by the "
        "benchmark from world truth, never by the loop",
    )
    real_sample: int = Field(200, ge=10, description="real images used in quality scoring")

    @field_validator("strategy", mode="before")
    @classmethod
    def _renamed_strategy(cls, value: object) -> object:
        # Benchmarks before the arms were renamed stored `untargeted` for today's `uniform`.
        return "uniform" if value == "untargeted" else value


class QualitySettings(BaseModel):
    """Thresholds of the four quality scores (higher is worse) and the per-image filters."""

    unrealistic: float = Field(
        0.9,
        ge=0,
        le=1,
        description="highest allowed: how easily a classifier tells synthetic from real",
    )
    unrepresentative: float = Field(
        0.9,
        ge=0,
        le=1,
        description="highest allowed: how much of the real data the batch fails to resemble",
    )
    unvaried: float = Field(0.2, ge=0, le=1, description="highest share of near copies allowed")
    unoriginal: float = Field(
        0.1, ge=0, le=1, description="highest share of near copies of real images allowed"
    )
    duplicate_distance: float = Field(
        0.003, gt=0, description="cosine distance of image fingerprints below which two are copies"
    )
    drop_unrealistic: float = Field(
        0.1, ge=0, lt=1, description="share of most synthetic-looking dropped"
    )

    def thresholds(self) -> dict[str, float]:
        return {
            "unrealistic": self.unrealistic,
            "unrepresentative": self.unrepresentative,
            "unvaried": self.unvaried,
            "unoriginal": self.unoriginal,
        }


class GateSettings(BaseModel):
    """Promotion rule: the objective must rise, mAP50 and the guarded slices must not fall.

    `rule: margin` decides on fixed margins; `rule: evidence` on the paired per-object
    differences on val (evaluation/gate.evidence_gate): the gain on its interval, the guarded
    slices as a family (Holm), an inconclusive candidate judged again next cycle.
    """

    min_gain: float = Field(
        0.01, ge=0, description="least rise of the objective (target slices' val recall)"
    )
    max_map_drop: float = Field(0.02, ge=0, description="largest fall of val mAP50 allowed")
    max_slice_drop: float = Field(
        0.05, ge=0, description="largest fall of a guarded slice's val recall allowed"
    )
    confidence: float | None = Field(
        None,
        gt=0.5,
        lt=1,
        description="decide on confidence bounds of paired per-object differences on val "
        "instead of fixed margins: a gain must be above 0, a guarded slice's drop beyond "
        "max_slice_drop and above 0, each one-sided at this confidence (e.g. 0.9); with "
        "rule evidence, the level of the gain's two-sided interval, and 1 minus the guarded "
        "slices' family-wise error rate (0.9 when unset)",
    )
    rule: Literal["margin", "evidence"] = Field(
        "margin",
        description="margin: min_gain and max_slice_drop as fixed margins (per-slice bounds "
        "with confidence); evidence: the gain's interval above 0, a guarded slice blocks when "
        "Holm's procedure over all of them finds it fell and it fell beyond max_slice_drop, "
        "an inconclusive candidate is carried to the next cycle (docs: the loop, gate_candidate)",
    )
    guarded_slices: dict[str, float] = Field(
        default_factory=dict,
        description="slices that must not regress, each with its own largest allowed drop of "
        "val recall, judged alone (e.g. {'class=Platelets': 0.0}); a name is attribute=bin or "
        "class=name, several joined by ' & ' (as failure slices are named)",
    )

    @field_validator("guarded_slices")
    @classmethod
    def _slice_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name, limit in value.items():
            parts = [part.split("=", 1) for part in name.split(" & ")]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in parts):
                raise ValueError(
                    f"gate.guarded_slices: '{name}' is not a slice name; write attribute=bin "
                    "or class=name, several joined by ' & ' (e.g. 'class=Platelets')"
                )
            if not 0 <= limit <= 1:
                raise ValueError(
                    f"gate.guarded_slices: the limit of '{name}' is {limit}; a recall drop "
                    "lies between 0 and 1"
                )
        return value


class AnalystSettings(BaseModel):
    """Which failure analyst explains the slices, and how to reach its model."""

    backend: Literal["offline", "qwen", "openai"] = Field(
        "offline",
        description="offline: rules over slice statistics (CPU); qwen: Qwen2.5-VL in this process; "
        "openai: an OpenAI-compatible server (vLLM)",
    )
    model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="hub id or local folder")
    dtype: str = Field("auto", description="torch dtype of the in-process model (qwen)")
    device: str = Field("auto", description="device map of the in-process model (qwen)")
    min_pixels: int = Field(64 * 28 * 28, gt=0, description="fewest pixels an image is scaled to")
    max_pixels: int = Field(512 * 28 * 28, gt=0, description="most pixels an image is scaled to")
    max_new_tokens: int = Field(512, gt=0, description="longest answer, in tokens")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint")
    api_key: str = Field("EMPTY", description="key sent to the OpenAI-compatible server")
    timeout: float = Field(60.0, gt=0, description="seconds a request to the server may take")
    retries: int = Field(2, ge=0, description="retries of a request that failed or timed out")
    structured_output: bool = Field(
        True, description="ask the server for JSON bound to the answer's schema"
    )
    evidence_images: int = Field(3, ge=1, description="whole scenes shown per slice")
    evidence_crops: int = Field(3, ge=0, description="crops of missed objects shown per slice")


class GeneratorSettings(BaseModel):
    """The diffusers generator: model, sampling, placement and how edits are made."""

    model: str = Field("stabilityai/sd-turbo", description="hub id or local pipeline folder")
    realism: float = Field(
        1.0,
        ge=0,
        le=1,
        description="field-camera degradation rendered from the first cycle (0: clean images; "
        "1: the camera estimated from the field images; measured: doubles the uniform and "
        "targeted arms' net gain on the worst slices, docs: benchmarks); revisions may raise it",
    )
    steps: int = Field(4, ge=1, description="denoising steps")
    guidance: float = Field(0.0, ge=0, description="classifier-free guidance scale")
    dtype: str = Field("float16", description="torch dtype of the pipeline")
    device: str = Field("cuda", description="device of the pipeline")
    cpu_offload: bool = Field(False, description="offload idle pipeline parts to the CPU")
    batch_size: int = Field(4, ge=1, description="images per pipeline call")
    edit_mode: Literal["inpaint", "img2img"] = Field(
        "inpaint", description="how real images are edited: inpainting (boxes kept) or img2img"
    )
    strength: float = Field(0.6, gt=0, le=1, description="how far an edit departs from its source")
    clip_model: str = Field(
        "openai/clip-vit-base-patch32",
        description="CLIP that checks each diffusers image against its prompt (hub id or folder)",
    )
    clip_threshold: float = Field(
        0.2,
        ge=-1,
        le=1,
        description="image-prompt cosine similarity under which an image is dropped",
    )


class LabelerSettings(BaseModel):
    """GroundingDINO + SAM: models, the ontology {prompt: class}, thresholds and label QA."""

    detector_model: str = Field(
        "IDEA-Research/grounding-dino-tiny", description="GroundingDINO (hub id or folder)"
    )
    sam_model: str | None = Field(
        "facebook/sam-vit-base", description="SAM that refines boxes (hub id or folder); None: none"
    )
    ontology: dict[str, str] = Field(
        default_factory=lambda: {"car": "car", "pedestrian": "person", "traffic sign": "sign"},
        description="text prompt -> class it labels",
    )
    box_threshold: float = Field(0.3, ge=0, le=1, description="GroundingDINO's box score cut")
    text_threshold: float = Field(0.25, ge=0, le=1, description="GroundingDINO's text score cut")
    nms_iou: float = Field(0.5, gt=0, le=1, description="IoU of per-class non-maximum suppression")
    device: str = Field("cpu", description="device of both models")
    qa_threshold: float = Field(0.3, ge=0, le=1, description="label quality under which to flag")


class ExecutionSettings(BaseModel):
    """Where generation and labelling run: in the loop's process, or over Ray workers."""

    backend: Literal["local", "ray"] = Field(
        "local", description="local: in the loop's process; ray: over Ray workers"
    )
    address: str | None = Field(
        None, description="a Ray cluster ('auto', ray://head:10001); default: start one here"
    )
    workers: int = Field(2, ge=1, description="Ray workers per tool; each loads its model once")
    gpus_per_worker: float = Field(
        0.0, ge=0, description="GPUs each worker asks Ray for (1, or 0.5 to share one)"
    )


class BackendSettings(BaseModel):
    """Which generator and labeler the loop uses (the analyst has its own section)."""

    generator: Literal["procedural", "paste", "retrieval", "diffusers"] | None = Field(
        None,
        description="procedural: the demo world's renderer (demo world only); paste: copy-paste "
        "of the train split's own objects and attribute edits of its images (CPU, no download); "
        "diffusers: text-to-image and inpainting on a GPU; retrieval: nearest images of a pool. "
        "Default: procedural for the demo world, paste for imported photographs",
    )
    labeler: Literal["truth", "grounded-sam"] = Field(
        "truth",
        description="truth: the boxes the generator placed (renderer or paste); grounded-sam: "
        "GroundingDINO + SAM on a GPU",
    )
    retrieval_pool: Path | None = Field(None, description="pool folder of the retrieval generator")


class Settings(BaseSettings):
    """Everything configurable about one workspace."""

    model_config = SettingsConfigDict(
        env_prefix="FAILFORGE_", env_nested_delimiter="__", extra="ignore"
    )

    workspace: Path = Field(Path("."), description="the workspace folder")
    workspace_id: str = Field("", description="stable id; names the workspace's FiftyOne datasets")
    api_token: str | None = Field(
        None, description="bearer token for every route of the HTTP API (recorded as 'api')"
    )
    api_reviewers: dict[str, str] = Field(
        default_factory=dict,
        description="more bearer tokens, by reviewer name: decisions are recorded under it",
    )
    world: str | None = Field("world.yaml", description="world file in the workspace, or None")
    classes: list[str] = Field(
        default_factory=lambda: ["car", "person", "sign"], description="the detector's classes"
    )
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    fiftyone: FiftyOneSettings = Field(default_factory=FiftyOneSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    analyst: AnalystSettings = Field(default_factory=AnalystSettings)
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    labeler: LabelerSettings = Field(default_factory=LabelerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override what failforge.yaml (passed as init values) says.
        return (env_settings, init_settings)

    @classmethod
    def load(cls, workspace: Path) -> Settings:
        """Settings of `workspace`: its failforge.yaml, then FAILFORGE_* overrides."""
        workspace = workspace.expanduser().resolve()
        values = read_settings_file(workspace)
        try:
            settings = cls(**values)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise WorkspaceError(
                f"{workspace / SETTINGS_FILE}: {where}: {problem['msg']}; fix it (nothing was "
                "changed)."
            ) from None
        # A relative .pt in detector.model is the user's own weights, read from the workspace.
        model = Path(settings.detector.model).expanduser()
        if model.suffix == ".pt":
            detector = settings.detector.model_copy(update={"model": str(workspace / model)})
            settings = settings.model_copy(update={"detector": detector})
        # The folder is the one asked for, whatever FAILFORGE_WORKSPACE says.
        return settings.model_copy(update={"workspace": workspace})

    def vocabulary(self) -> Literal["scene", "attributes"]:
        """scene: the demo world's conditions; attributes: a user's photographs (no world), whose
        slices, hypotheses and requests speak measured attributes and the user's classes."""
        return "scene" if self.world else "attributes"

    def generator_backend(self) -> str:
        """The generator in use: the one set, else the default for the kind of workspace."""
        if self.backends.generator is not None:
            return self.backends.generator
        return "procedural" if self.world else "paste"

    def database_dir(self) -> Path:
        return self.fiftyone.database_dir or self.workspace / "fiftyone"

    def state_location(self) -> StateLocation:
        return StateLocation(
            self.state.url, self.workspace.resolve(), self.workspace_id, self.state.busy_timeout
        )


def read_settings_file(workspace: Path) -> dict[str, Any]:
    """The workspace's failforge.yaml as a mapping; WorkspaceError (one sentence) when damaged."""
    path = workspace / SETTINGS_FILE
    try:
        raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WorkspaceError(
            f"{path} is not valid YAML{where}; fix or restore it (nothing was changed)."
        ) from error
    if raw is not None and not isinstance(raw, dict):
        raise WorkspaceError(
            f"{path} must hold a mapping of settings (section: {{key: value}}); fix or restore "
            "it (nothing was changed)."
        )
    return dict(raw or {})


def write_settings_file(workspace: Path, values: dict[str, Any]) -> None:
    (workspace / SETTINGS_FILE).write_text(yaml.safe_dump(values, sort_keys=False))
