"""FiftyOne datasets of a workspace (field and synthetic): samples, labels, evaluations, views."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import supervision as sv

from storage.coco_sweep import SweepEvaluation
from storage.detection_evaluation import DetectionEvaluation
from storage.refs import SampleRef
from tools.convert import RelativeBox, from_relative, to_relative

if TYPE_CHECKING:
    import fiftyone as fo

GROUND_TRUTH = "ground_truth"
# The store of the App's Model Evaluation panel (FiftyOne's built-in plugin): review statuses
# and notes per evaluation id, as the panel itself writes them.
EVALUATION_PANEL_STORE = "model_evaluation_panel_builtin"
REVIEW_STATUSES = ("needs_review", "in_review", "reviewed")
SPLIT_TAGS = ("train", "val", "test")


def _fo() -> Any:
    import fiftyone as fo

    return fo


@dataclass
class LabeledImage:
    """An image on disk with its boxes, for adding to a dataset."""

    path: Path
    detections: sv.Detections
    width: int
    height: int
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


def _to_fo_detections(boxes: Iterable[RelativeBox]) -> Any:
    fo = _fo()
    return fo.Detections(
        detections=[
            fo.Detection(label=b.label, bounding_box=list(b.bounding_box), confidence=b.confidence)
            for b in boxes
        ]
    )


def _from_fo_detections(label: Any) -> list[RelativeBox]:
    if label is None:
        return []
    return [RelativeBox(d.label, tuple(d.bounding_box), d.confidence) for d in label.detections]


class WorkspaceDatasets:
    """The field and synthetic datasets of one workspace, named after its id."""

    # Field and view names, spelled here only: a model's predictions, the world's condition tags
    # (truth for benchmarks; the agent reads them only as slice names), a batch's saved view.
    PREDICTION_PREFIX: ClassVar[str] = "pred_"
    CONDITION_PREFIX: ClassVar[str] = "world_"

    @classmethod
    def prediction_field(cls, model: str) -> str:
        """The field holding `model`'s predictions (one per model version)."""
        return f"{cls.PREDICTION_PREFIX}{model}"

    @staticmethod
    def batch_view(batch_id: str) -> str:
        """The name of a batch's saved view of the synthetic dataset."""
        return f"batch {batch_id}"

    def __init__(self, workspace_id: str, classes: Sequence[str]) -> None:
        self.workspace_id = workspace_id
        self.classes = list(classes)

    @property
    def field_name(self) -> str:
        return f"failforge-{self.workspace_id}-field"

    @property
    def synthetic_name(self) -> str:
        return f"failforge-{self.workspace_id}-synthetic"

    def _dataset(self, name: str) -> fo.Dataset:
        fo = _fo()
        if fo.dataset_exists(name):
            return fo.load_dataset(name)
        dataset = fo.Dataset(name, persistent=True)
        dataset.default_classes = self.classes
        dataset.save()
        return dataset

    def field(self) -> fo.Dataset:
        return self._dataset(self.field_name)

    def synthetic(self) -> fo.Dataset:
        return self._dataset(self.synthetic_name)

    def clone_to(self, workspace_id: str) -> WorkspaceDatasets:
        """Copies of both datasets (samples, labels, predictions, evaluations) for another workspace."""
        other = WorkspaceDatasets(workspace_id, self.classes)
        for name, other_name in (
            (self.field_name, other.field_name),
            (self.synthetic_name, other.synthetic_name),
        ):
            if _fo().dataset_exists(name):
                _fo().load_dataset(name).clone(other_name, persistent=True)
        return other

    def delete(self) -> None:
        fo = _fo()
        for name in (self.field_name, self.synthetic_name):
            if fo.dataset_exists(name):
                fo.delete_dataset(name)

    # -- adding and reading samples -------------------------------------------------------
    def add_images(self, images: Sequence[LabeledImage], synthetic: bool = False) -> list[str]:
        """Add images with ground truth; returns the new sample ids in order."""
        fo = _fo()
        dataset = self.synthetic() if synthetic else self.field()
        samples = []
        for image in images:
            sample = fo.Sample(filepath=str(image.path), tags=list(image.tags))
            sample[GROUND_TRUTH] = _to_fo_detections(
                to_relative(image.detections, image.width, image.height, self.classes)
            )
            sample["metadata"] = fo.ImageMetadata(width=image.width, height=image.height)
            for key, value in image.attributes.items():
                sample[key] = value
            samples.append(sample)
        return [str(i) for i in dataset.add_samples(samples, progress=False)]

    def split(self, split: str) -> Any:
        return self.field().match_tags(split)

    def count(self, split: str | None = None) -> int:
        return len(self.field()) if split is None else len(self.split(split))

    def samples(self, view: Any) -> list[SampleRef]:
        """Each sample of a view (id, path, width, height), in a stable order."""
        ids, paths, widths, heights = view.values(
            ["id", "filepath", "metadata.width", "metadata.height"]
        )
        return [
            SampleRef(i, Path(p), int(w), int(h))
            for i, p, w, h in zip(ids, paths, widths, heights, strict=True)
        ]

    def labels(self, view: Any, label_field: str = GROUND_TRUTH) -> list[sv.Detections]:
        """Detections of `label_field` for each sample of `view` (same order as `samples`)."""
        if not view.has_field(label_field):  # e.g. an empty dataset has no label field yet
            return [from_relative([], 1, 1, self.classes) for _ in range(len(view))]
        raw, widths, heights = view.values([label_field, "metadata.width", "metadata.height"])
        return [
            from_relative(_from_fo_detections(label), int(w), int(h), self.classes)
            for label, w, h in zip(raw, widths, heights, strict=True)
        ]

    def where(self, view: Any, field_name: str, value: Any) -> Any:
        """The samples of `view` whose `field_name` equals `value`."""
        return view.match(_fo().ViewField(field_name) == value)

    def where_in(self, view: Any, field_name: str, values: Sequence[Any]) -> Any:
        return view.match(_fo().ViewField(field_name).is_in(list(values)))

    def select(self, sample_ids: Sequence[str], synthetic: bool = False) -> Any:
        dataset = self.synthetic() if synthetic else self.field()
        return dataset.select(list(sample_ids), ordered=True)

    def batch(self, batch_id: str) -> Any:
        """The synthetic samples of one batch."""
        return self.where(self.synthetic(), "batch_id", batch_id)

    def delete_samples(self, view: Any) -> None:
        view._dataset.delete_samples(view)

    def tag(self, sample_ids: Sequence[str], tag: str, synthetic: bool = False) -> None:
        self.select(sample_ids, synthetic=synthetic).tag_samples(tag)

    def tags(self, view: Any) -> list[list[str]]:
        return [list(t) for t in view.values("tags")]

    def field_names(self, prefix: str = "", synthetic: bool = False) -> list[str]:
        dataset = self.synthetic() if synthetic else self.field()
        return sorted(n for n in dataset.get_field_schema() if n.startswith(prefix))

    def values(self, view: Any, field_name: str) -> list[Any]:
        return list(view.values(field_name))

    def set_predictions(
        self,
        sample_ids: Sequence[str],
        detections: Sequence[sv.Detections],
        field_name: str,
        synthetic: bool = False,
    ) -> None:
        """Store predictions per sample under `field_name` (one field per model version)."""
        dataset = self.synthetic() if synthetic else self.field()
        view = dataset.select(list(sample_ids), ordered=True)
        widths, heights = view.values(["metadata.width", "metadata.height"])
        labels = [
            _to_fo_detections(to_relative(d, int(w), int(h), self.classes))
            for d, w, h in zip(detections, widths, heights, strict=True)
        ]
        view.set_values(field_name, labels)

    def set_sample_values(
        self,
        sample_ids: Sequence[str],
        field_name: str,
        values: Sequence[Any],
        synthetic: bool = False,
    ) -> None:
        dataset = self.synthetic() if synthetic else self.field()
        dataset.select(list(sample_ids), ordered=True).set_values(field_name, list(values))

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self, view: Any, pred_field: str, eval_key: str | None, iou: float = 0.5
    ) -> DetectionEvaluation:
        """COCO-style evaluation with mAP over IoU 0.50:0.95; per-object results under `eval_key`.
        FiftyOne's results object stays here: the caller gets its arrays."""
        if eval_key is not None and eval_key in view._dataset.list_evaluations():
            view._dataset.delete_evaluation(eval_key)
        results = view.evaluate_detections(
            pred_field,
            gt_field=GROUND_TRUTH,
            eval_key=eval_key,
            method="coco",
            compute_mAP=True,
            iou=iou,
            classes=self.classes,
            progress=False,
        )
        return DetectionEvaluation(
            precision=np.asarray(results.precision),
            iou_thresholds=np.asarray(results.iou_threshs),
            classes=list(results.classes),
            ytrue=np.asarray(results.ytrue, dtype=object),
            ypred=np.asarray(results.ypred, dtype=object),
            confidences=np.array(
                [-1.0 if c is None else float(c) for c in results.confs], dtype=float
            ),
        )

    def sweep(self, view: Any, pred_field: str) -> SweepEvaluation:
        """Per-image COCO matches of `pred_field` on `view`: evaluates any subset of its images
        (a slice) without reading them again."""
        return SweepEvaluation(view, pred_field, GROUND_TRUTH, self.classes)

    def failures_view(self, split: str, eval_key: str) -> Any:
        """Samples of `split` with a missed or spurious object under `eval_key`, worst first."""
        F = _fo().ViewField
        view = self.split(split)
        return view.match((F(f"{eval_key}_fn") > 0) | (F(f"{eval_key}_fp") > 0)).sort_by(
            F(f"{eval_key}_fn") + F(f"{eval_key}_fp"), reverse=True
        )

    def missed_objects_view(self, split: str, eval_key: str) -> Any:
        """Evaluation patches of `split` under `eval_key`: one patch per object the model missed,
        so the App's grid shows the misses themselves, not whole scenes."""
        F = _fo().ViewField
        return self.split(split).to_evaluation_patches(eval_key).match(F("type") == "fn")

    def save_failure_views(self, split: str, eval_key: str) -> None:
        """The App's `<split> failures` (scenes) and `<split> missed objects` (patches) views of
        the evaluation under `eval_key`."""
        self.save_view(f"{split} failures", self.failures_view(split, eval_key))
        self.save_view(f"{split} missed objects", self.missed_objects_view(split, eval_key))

    def review_evaluation(self, eval_key: str, status: str, note: str) -> None:
        """Set the review status and note the App's Model Evaluation panel shows for the
        evaluation under `eval_key` (the loop's gate is its reviewer)."""
        if status not in REVIEW_STATUSES:
            raise ValueError(f"review status {status!r} is not one of {REVIEW_STATUSES}")
        found = self._evaluation_panel_entry(eval_key)
        if found is None:
            return
        store, eval_id = found
        for key, value in (("statuses", status), ("notes", note)):
            values = store.get(key) or {}
            values[eval_id] = value
            store.set(key, values)

    def evaluation_review(self, eval_key: str) -> tuple[str | None, str | None]:
        """The Model Evaluation panel's (status, note) of the evaluation under `eval_key`."""
        found = self._evaluation_panel_entry(eval_key)
        if found is None:
            return None, None
        store, eval_id = found
        return (store.get("statuses") or {}).get(eval_id), (store.get("notes") or {}).get(eval_id)

    def _evaluation_panel_entry(self, eval_key: str) -> tuple[Any, str] | None:
        """The Model Evaluation panel's store on the field dataset and the id it files the
        evaluation under `eval_key` by, or None when there is no such evaluation."""
        dataset = self.field()
        if eval_key not in dataset.list_evaluations():
            return None
        return self._evaluation_panel_store(), str(dataset._doc.evaluations[eval_key].id)

    def _evaluation_panel_store(self) -> Any:
        """The App's Model Evaluation panel's execution store on the field dataset."""
        from fiftyone.operators.store import ExecutionStore

        return ExecutionStore.create(EVALUATION_PANEL_STORE, self.field()._doc.id)

    def mark_objects(self, view: Any, attribute: str, marks: Sequence[Sequence[list[str]]]) -> None:
        """Set `attribute` on every ground-truth object of the field dataset: for the samples of
        `view` (in `samples` order) one list per object of a known class, in label order, as
        `labels` returns them; every other object gets an empty list, so a filter on the
        attribute never meets a missing value."""
        dataset = self.field()
        ids = {sample_id: k for k, sample_id in enumerate(view.values("id"))}
        all_ids, labels = dataset.values(["id", GROUND_TRUTH])
        values: list[list[list[str]]] = []
        for sample_id, label in zip(all_ids, labels, strict=True):
            objects = label.detections if label is not None else []
            if sample_id not in ids:
                values.append([[] for _ in objects])
                continue
            given = iter(marks[ids[sample_id]])
            values.append([next(given) if d.label in self.classes else [] for d in objects])
        path = f"{GROUND_TRUTH}.detections.{attribute}"
        dataset.set_values(path, values)
        # Declared in the schema as a list of strings: FiftyOne's subsets test list membership
        # only for a declared list field (an undeclared one is compared as a whole, matching none).
        if dataset.get_field(path) is None:
            dataset.add_sample_field(path, _fo().ListField, subfield=_fo().StringField)

    def set_evaluation_scenario(self, name: str, attribute: str, subsets: Sequence[str]) -> None:
        """A scenario of the App's Model Evaluation panel: one subset per value of the objects'
        `attribute` (the panel's own "label attribute" kind), filed under a stable id so that
        writing it again replaces it."""
        store = self._evaluation_panel_store()
        scenario_id = hashlib.sha1(name.encode()).hexdigest()[:24]  # an ObjectId's length
        scenarios = store.get("scenarios") or {}
        scenarios[scenario_id] = {
            "id": scenario_id,
            "name": name,
            "type": "label_attribute",
            "subsets": list(subsets),
            "field": f"{GROUND_TRUTH}.detections.{attribute}",
        }
        store.set("scenarios", scenarios)

    def evaluation_scenarios(self) -> list[dict[str, Any]]:
        """The Model Evaluation panel's scenarios on the field dataset."""
        store = self._evaluation_panel_store()
        return list((store.get("scenarios") or {}).values())

    def subset_recall(self, eval_key: str, attribute: str, value: str) -> tuple[float, int]:
        """(recall, objects) of the evaluation under `eval_key` on the ground-truth objects
        whose `attribute` holds `value`: the subset the Model Evaluation panel computes for a
        scenario, through FiftyOne's own `use_subset`."""
        results = self.field().load_evaluation_results(eval_key)
        with results.use_subset({"type": "attribute", "field": attribute, "value": value}):
            truth = results.ytrue != results.missing
            found = truth & (results.ypred != results.missing)
            objects = int(truth.sum())
        return (float(found.sum() / objects) if objects else 0.0), objects

    def save_view(self, name: str, view: Any, synthetic: bool = False) -> None:
        dataset = self.synthetic() if synthetic else self.field()
        if dataset.has_saved_view(name):
            dataset.delete_saved_view(name)
        dataset.save_view(name, view)

    def saved_views(self, synthetic: bool = False) -> list[str]:
        dataset = self.synthetic() if synthetic else self.field()
        return list(dataset.list_saved_views())

    def launch_app(self, port: int, address: str = "127.0.0.1", panel: str | None = None) -> Any:
        """Serve the App on the field dataset; `panel` opens beside the samples grid."""
        fo = _fo()
        spaces = None
        if panel is not None:
            spaces = fo.Space(
                children=[fo.Panel(type="Samples", pinned=True), fo.Panel(type=panel)],
                orientation="horizontal",
            )
        return fo.launch_app(self.field(), port=port, address=address, remote=True, spaces=spaces)
