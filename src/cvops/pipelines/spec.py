"""The pipeline file: YAML (read with ``yaml.safe_load``), validated key by key.

A file is ``{"name": str, "steps": [{KIND: {settings}}, ...]}``; each step is a one-key mapping naming its kind
(:data:`STEP_KINDS`) with its settings (or nothing, for the defaults). Unknown keys and bad values are refused with a
:class:`PipelineInvalid` naming the file and the key path (``pipeline.yaml: steps[2].train.epochs: expected a
positive integer, got 'ten'``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cvops.catalog.statuses import STATUSES
from cvops.common.errors import CvopsError
from cvops.formats import IMPORT_FORMATS

DEFAULT_FILE = "pipeline.yaml"
SPLITS = ("train", "val", "test")
PRECISIONS = ("fp32", "fp16", "int8")


class PipelineInvalid(CvopsError):
    """The pipeline file cannot be read or a key in it is wrong; the message names the file and the key."""

    code = "pipeline_invalid"

    def __init__(self, message: str, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.path, self.key = path, key

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key}


class _Bad(Exception):
    """A value was refused: ``expected ...`` (the caller adds the file and the key)."""


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _pos_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise _Bad(f"expected a positive integer, got {_show(v)}")
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"expected an integer, got {_show(v)}")
    return v


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Bad(f"expected a number, got {_show(v)}")
    return float(v)


def _fraction(v: Any) -> float:
    x = _number(v)
    if not 0.0 <= x <= 1.0:
        raise _Bad(f"expected a number from 0 to 1, got {_show(v)}")
    return x


def _pos_number(v: Any) -> float:
    x = _number(v)
    if x <= 0:
        raise _Bad(f"expected a positive number, got {_show(v)}")
    return x


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Bad(f"expected a non-empty string, got {_show(v)}")
    return v.strip()


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {_show(v)}")
    return v


def _choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            raise _Bad(f"expected one of {', '.join(options)}, got {_show(v)}")
        return str(v)
    return check


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def check(v: Any) -> list[Any]:
        values = [v] if isinstance(v, str) else v
        if not isinstance(values, list) or not values:
            raise _Bad(f"expected a list, got {_show(v)}")
        return [item(x) for x in values]
    return check


def _ratios(v: Any) -> str:
    from cvops.common.errors import ValidationError
    from cvops.data.splits import parse_ratios

    text = _str(v)
    try:
        parse_ratios(text)
    except ValidationError as exc:
        raise _Bad(f"expected split ratios like 80/10/10 ({exc})") from None
    return text


# Each kind's settings: key -> (validator, default). A default of None means "not set".
STEP_KINDS: dict[str, dict[str, tuple[Callable[[Any], Any], Any]]] = {
    "ingest": {"folders": (_list_of(_str), None), "mode": (_choice("copy", "in_place"), "copy"),
               "format": (_choice("images", "auto", *IMPORT_FORMATS), "images")},
    "check": {"max_errors": (_int, 0), "max_warnings": (_int, None), "min_size": (_pos_int, 32),
              "min_examples": (_pos_int, 1), "imbalance_ratio": (_pos_number, 10.0)},
    "version": {"filter": (_list_of(_choice(*STATUSES)), None), "split": (_ratios, "80/10/10"), "seed": (_int, 0),
                "message": (_str, "pipeline version")},
    "train": {"preset": (_str, "fast"), "epochs": (_pos_int, None), "imgsz": (_pos_int, None),
              "batch": (_pos_int, None), "device": (_str, "auto"), "seed": (_int, 0), "weights": (_str, None),
              "from": (_choice("champion"), None)},
    "evaluate": {"split": (_choice(*SPLITS), "test"), "benchmark": (_str, None), "model": (_str, None),
                 "version": (_str, None), "device": (_str, "cpu")},
    "gate": {"min_gain": (_number, 0.0), "max_class_drop": (_fraction, 0.05), "floor": (_fraction, 0.0),
             "latency_budget_ms": (_pos_number, None)},
    "promote": {},
    "export": {"precisions": (_list_of(_choice(*PRECISIONS)), ["fp32"]), "imgsz": (_pos_int, None)},
    "verify": {"split": (_choice(*SPLITS), "val"), "latency_runs": (_pos_int, 20), "min_map50_95": (_fraction, None),
               "allow_below_floor": (_bool, False)},
    "bundle": {"zip": (_bool, False)},
    "deploy": {"targets": (_list_of(_str), None)},
}
REQUIRED = {"ingest": ("folders",), "deploy": ("targets",)}
NULLABLE = {("gate", "max_class_drop")}  # besides the keys whose default is None
# What a step needs an earlier step (or its own settings) to have produced.
NEEDS = {"train": ("version",), "evaluate": ("model",), "gate": ("evaluation",), "promote": ("model",),
         "export": ("model",), "verify": ("exports",), "bundle": ("exports",), "deploy": ("bundle",)}
PRODUCES = {"version": ("version",), "train": ("model",), "evaluate": ("evaluation",), "export": ("exports",),
            "bundle": ("bundle",)}


@dataclass
class Step:
    """One step of a pipeline: its position, kind and settings (defaults filled in)."""

    index: int
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipeline:
    """A validated pipeline file."""

    path: Path
    name: str
    steps: list[Step]
    text_hash: str


def _fail(path: Path, key: str, problem: str) -> PipelineInvalid:
    return PipelineInvalid(f"{path.name}: {key}: {problem}" if key else f"{path.name}: {problem}", str(path), key)


def parse(text: str, path: Path) -> Pipeline:
    """Validate the YAML ``text`` of the pipeline file ``path``; raises :class:`PipelineInvalid`."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, "", "expected a mapping with a 'steps' list")
    for key in data:
        if key not in ("name", "steps"):
            raise _fail(path, str(key), "unknown key (expected name, steps)")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "name", f"expected a non-empty string, got {_show(name)}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _fail(path, "steps", "expected a non-empty list of steps")
    steps: list[Step] = []
    have: set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"steps[{i}]"
        if not isinstance(raw, dict) or len(raw) != 1:
            raise _fail(path, where, f"expected one step kind ({', '.join(STEP_KINDS)}) as a mapping key")
        kind, settings = next(iter(raw.items()))
        if kind not in STEP_KINDS:
            raise _fail(path, f"{where}.{kind}", f"unknown step kind (expected one of {', '.join(STEP_KINDS)})")
        settings = {} if settings is None else settings
        if not isinstance(settings, dict):
            raise _fail(path, f"{where}.{kind}", f"expected a mapping of settings, got {_show(settings)}")
        schema = STEP_KINDS[kind]
        values: dict[str, Any] = {}
        for key, value in settings.items():
            if key not in schema:
                known = ", ".join(schema) or "none"
                raise _fail(path, f"{where}.{kind}.{key}", f"unknown key (expected: {known})")
            if value is None and (schema[key][1] is None or (kind, key) in NULLABLE):
                values[key] = None  # "not set" (max_class_drop: null turns the per-class criterion off)
                continue
            try:
                values[key] = schema[key][0](value)
            except _Bad as exc:
                raise _fail(path, f"{where}.{kind}.{key}", str(exc)) from None
        for key in REQUIRED.get(kind, ()):
            if key not in values:
                raise _fail(path, f"{where}.{kind}.{key}", "required")
        provided = set(have) | ({"model"} if kind == "evaluate" and "model" in values else set())
        for need in NEEDS.get(kind, ()):
            if need not in provided:
                raise _fail(path, f"{where}.{kind}", f"needs an earlier step that produces the {need}")
        have |= set(PRODUCES.get(kind, ()))
        if kind == "evaluate":
            have.add("model")
        steps.append(Step(i, kind, {k: values.get(k, d) for k, (_, d) in schema.items()}))
    return Pipeline(path, name.strip(), steps, hashlib.sha256(text.encode()).hexdigest())


def file_key(path: Path) -> str:
    """A short stable key of a pipeline file's absolute path (names its lock and its watch's status file)."""
    return hashlib.sha256(str(Path(path).absolute()).encode()).hexdigest()[:16]


def load(path: Path) -> Pipeline:
    """Read and validate the pipeline file ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineInvalid(f"{path}: no such pipeline file (cvops pipeline init writes one)", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineInvalid(f"{path}: cannot read the pipeline file: {exc}", str(path)) from None
    return parse(text, Path(path).absolute())


DEFAULT_TEXT = """\
# A CVOps pipeline: the loop from new images to a deployed model. `cvops pipeline run` runs the steps in order;
# a step whose inputs (content hashes) are unchanged since its last successful run is not re-run ("cached"), and a
# failed or cancelled run resumes from the step that failed. See docs/pipelines.md.
name: default
steps:
  # Import new images from folders (copied into the workspace store, or recorded in place).
  - ingest:
      folders: [incoming]
      mode: copy            # copy | in_place
      format: images        # images (unlabelled) | auto | yolo | coco | voc | ...: each subfolder is a labelled batch
  # The health gate: stop when the data has more errors (or warnings) than allowed.
  - check:
      max_errors: 0
      # max_warnings: 100
      min_size: 32
  # Freeze a dataset version (identical content reuses the existing version).
  - version:
      # filter: [done, approved]   # only images with these statuses (default: all)
      split: 80/10/10
      seed: 0
  # Train a challenger: a preset with overrides; `from: champion` fine-tunes the current champion.
  - train:
      preset: fast
      epochs: 30
      # imgsz: 640
      # from: champion            # fine-tune the champion (with weights: too, those start the first one)
      # weights: path/to/weights.pt  # a local pretrained .pt (nothing is downloaded)
  # Evaluate the challenger (and the champion) on data neither trained on: the version's test split.
  - evaluate:
      split: test
      # benchmark: NAME           # a pinned benchmark set instead of the split
  # The champion/challenger gate: the pipeline stops here unless the challenger is better.
  - gate:
      min_gain: 0.0           # mAP50-95 must beat the champion's by at least this
      max_class_drop: 0.05    # no class's AP may drop by more
      floor: 0.10             # absolute mAP50-95 the challenger must reach
      # latency_budget_ms: 50 # needs export and verify steps before the gate
  - promote:
  - export:
      precisions: [fp32]
  - verify:
      split: val
  - bundle:
  - deploy:
      targets: [deployed]     # folders, or ssh://user@host/path
"""


def write_default(path: Path, force: bool = False) -> Path:
    """Write the commented default pipeline file to ``path`` (refuses to overwrite unless ``force``)."""
    path = Path(path)
    if path.exists() and not force:
        raise PipelineInvalid(f"{path} already exists (use --force to overwrite it)", str(path))
    path.write_text(DEFAULT_TEXT, encoding="utf-8")
    return path
