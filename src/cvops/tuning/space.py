"""The search space of a tuning study: a YAML (or JSON) file, validated key by key before anything runs.

A file is ``{"params": {NAME: SPEC, ...}, "enqueue": [{NAME: value, ...}, ...]}``. Each ``SPEC`` is one of

* ``{type: float, low: A, high: B}`` with optional ``log: true`` (sampled on a log scale; needs ``low > 0``) or
  ``step: S`` (a grid),
* ``{type: int, low: A, high: B}`` with optional ``log`` or ``step``,
* ``{type: categorical, choices: [...]}``,
* a plain value: fixed for every trial (not searched).

``NAME`` is one of :data:`PARAMETERS`: Ultralytics train arguments (learning rate, momentum, weight decay, loss
gains, augmentation strengths, ...) passed to the trainer as the training child passes a preset's, plus ``imgsz``,
``batch`` and ``model`` (an architecture YAML such as ``yolo11s.yaml``: the model size). ``enqueue`` (optional) lists
parameter sets to evaluate first, in order (Optuna's ``enqueue_trial``): your current settings, or a known good point;
parameters a set leaves out are sampled.

Unknown parameters or keys, wrong types, ``low > high``, values outside what the trainer accepts, empty or repeated
choices and ``log`` on a range that is not positive are refused with a :class:`SpaceInvalid` naming the file and
the key (``space.yaml: params.lr0: low 0.1 is above high 0.01``). :data:`DEFAULT_SPACE_YAML` is the documented
default (``cvops tune --print-space`` writes it, to copy and edit).
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from cvops.common.errors import CvopsError

if TYPE_CHECKING:
    import optuna

# name -> (kind, lowest allowed, highest allowed, what it is). Kinds: float, int, str, bool.
PARAMETERS: Mapping[str, tuple[str, Optional[float], Optional[float], str]] = {
    "lr0": ("float", 0.0, 10.0, "initial learning rate"),
    "lrf": ("float", 0.0, 1.0, "final learning rate, as a fraction of lr0"),
    "momentum": ("float", 0.0, 1.0, "SGD momentum / Adam beta1"),
    "weight_decay": ("float", 0.0, 1.0, "weight decay"),
    "warmup_epochs": ("float", 0.0, 1000.0, "warm-up epochs"),
    "warmup_momentum": ("float", 0.0, 1.0, "momentum during warm-up"),
    "warmup_bias_lr": ("float", 0.0, 10.0, "bias learning rate during warm-up"),
    "cos_lr": ("bool", None, None, "cosine learning-rate schedule"),
    "optimizer": ("str", None, None, "optimizer"),
    "nbs": ("int", 1, 4096, "nominal batch size (gradient accumulation)"),
    "dropout": ("float", 0.0, 1.0, "dropout (classification heads)"),
    "box": ("float", 0.0, 1000.0, "box loss gain"),
    "cls": ("float", 0.0, 1000.0, "class loss gain"),
    "dfl": ("float", 0.0, 1000.0, "distribution focal loss gain"),
    "hsv_h": ("float", 0.0, 1.0, "hue jitter (fraction)"),
    "hsv_s": ("float", 0.0, 1.0, "saturation jitter (fraction)"),
    "hsv_v": ("float", 0.0, 1.0, "value (brightness) jitter (fraction)"),
    "degrees": ("float", 0.0, 180.0, "rotation (+/- degrees)"),
    "translate": ("float", 0.0, 1.0, "translation (+/- fraction)"),
    "scale": ("float", 0.0, 1.0, "scale gain (+/-)"),
    "shear": ("float", 0.0, 90.0, "shear (+/- degrees)"),
    "perspective": ("float", 0.0, 0.001, "perspective (fraction)"),
    "flipud": ("float", 0.0, 1.0, "up-down flip probability"),
    "fliplr": ("float", 0.0, 1.0, "left-right flip probability"),
    "mosaic": ("float", 0.0, 1.0, "mosaic probability"),
    "mixup": ("float", 0.0, 1.0, "mixup probability"),
    "copy_paste": ("float", 0.0, 1.0, "copy-paste probability (segmentation)"),
    "close_mosaic": ("int", 0, 10000, "epochs without mosaic at the end"),
    "imgsz": ("int", 32, 8192, "training image size (pixels)"),
    "batch": ("int", 1, 4096, "batch size"),
    "model": ("str", None, None, "architecture YAML: the model size (yolo11n.yaml, yolo11s.yaml, ...)"),
}
RUN_OPTIONS = ("imgsz", "batch", "model")
"""Parameters that are options of :func:`cvops.training.runner.start_run`; the others are Ultralytics arguments."""
OPTIMIZERS = ("SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto")
_SPEC_KEYS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
              "categorical": {"type", "choices"}}

DEFAULT_SPACE_YAML = """\
# The default search space of `cvops tune` (docs/tuning.md). Copy it, edit it, and pass it with --space FILE.
# Each entry under params is searched: {type: float|int, low: A, high: B} (log: true samples on a log scale,
# step: S on a grid) or {type: categorical, choices: [...]}; a plain value is fixed for every trial.
# Trials start from the "fast" preset (AdamW, batch 4, no warm-up); these values replace the preset's.
params:
  lr0: {type: float, low: 0.0005, high: 0.02, log: true}           # initial learning rate
  momentum: {type: float, low: 0.8, high: 0.98}                    # SGD momentum / Adam beta1
  weight_decay: {type: float, low: 0.00001, high: 0.001, log: true}  # weight decay
  hsv_h: {type: float, low: 0.0, high: 0.05}                       # hue jitter (fraction)
  hsv_s: {type: float, low: 0.0, high: 0.9}                        # saturation jitter (fraction)
  hsv_v: {type: float, low: 0.0, high: 0.6}                        # brightness jitter (fraction)
  degrees: {type: float, low: 0.0, high: 15.0}                     # rotation (+/- degrees)
  translate: {type: float, low: 0.0, high: 0.3}                    # translation (+/- fraction)
  scale: {type: float, low: 0.0, high: 0.7}                        # scale gain (+/-)
  fliplr: {type: float, low: 0.0, high: 0.5}                       # left-right flip probability
  mosaic: {type: float, low: 0.0, high: 1.0}                       # mosaic probability
  imgsz: {type: categorical, choices: [320, 416, 512]}             # image size
  model: {type: categorical, choices: [yolo11n.yaml, yolo11s.yaml]}  # model size
# Parameter sets to try first, in order (the ones left out are sampled), e.g. the fast preset's own values:
enqueue:
  - {lr0: 0.002, mosaic: 0.0, imgsz: 320, model: yolo11n.yaml}
"""


class SpaceInvalid(CvopsError):
    """The search space file cannot be read or an entry in it is wrong; the message names the file and the key."""

    code = "space_invalid"

    def __init__(self, message: str, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.path, self.key = path, key

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key}


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``kind`` float, int or categorical."""

    name: str
    kind: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The spec as the file writes it."""
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        spec: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: searched ``params``, ``fixed`` values, parameter sets to ``enqueue`` first."""

    params: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    source: str = "default"

    def to_dict(self) -> dict[str, Any]:
        """The space as a file would hold it (JSON-ready; :func:`parse_space` reads it back)."""
        params: dict[str, Any] = {name: p.to_dict() for name, p in self.params.items()}
        params.update(self.fixed)
        return {"params": params, "enqueue": [dict(e) for e in self.enqueue]}

    def suggest(self, trial: "optuna.trial.Trial") -> dict[str, Any]:
        """The trial's parameters: one value sampled for each searched parameter, plus the fixed ones."""
        values: dict[str, Any] = {}
        for name, p in self.params.items():
            if p.kind == "categorical":
                values[name] = trial.suggest_categorical(name, list(p.choices))
            elif p.kind == "int":
                values[name] = trial.suggest_int(name, int(p.low or 0), int(p.high or 0), step=int(p.step or 1),
                                                 log=p.log)
            else:
                values[name] = trial.suggest_float(name, float(p.low or 0.0), float(p.high or 0.0), step=p.step,
                                                   log=p.log)
        return {**self.fixed, **values}


class _Bad(Exception):
    """A value was refused (the caller adds the file and the key)."""


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(name: str, value: Any) -> Any:
    """``value`` as parameter ``name`` takes it; raises :class:`_Bad` for a wrong type or a value out of range."""
    kind, low, high, _ = PARAMETERS[name]
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Bad(f"expected true or false, got {_show(value)}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise _Bad(f"expected a name, got {_show(value)}")
        if name == "optimizer" and value not in OPTIMIZERS:
            raise _Bad(f"unknown optimizer {_show(value)} (choose from {', '.join(OPTIMIZERS)})")
        if name == "model" and not value.endswith(".yaml"):
            raise _Bad(f"expected an architecture YAML such as yolo11n.yaml, got {_show(value)}")
        return value
    if not _is_number(value):
        raise _Bad(f"expected a number, got {_show(value)}")
    if kind == "int" and not float(value).is_integer():
        raise _Bad(f"expected a whole number, got {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _Bad(f"{_show(value)} is outside the range the trainer accepts ({low} to {high})")
    return int(value) if kind == "int" else value


def _parse_param(name: str, spec: Any) -> Union[Param, tuple[str, Any]]:
    """A searched :class:`Param`, or ``("fixed", value)`` for a plain value."""
    kind = PARAMETERS[name][0]
    if not isinstance(spec, dict):
        return "fixed", _check_value(name, spec)
    ptype = spec.get("type")
    if ptype not in _SPEC_KEYS:
        raise _Bad(f"type must be float, int or categorical, got {_show(ptype)}")
    unknown = sorted(set(map(str, spec)) - _SPEC_KEYS[ptype])
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r} for type {ptype} (expected {', '.join(sorted(_SPEC_KEYS[ptype]))})")
    if ptype == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Bad("choices must be a non-empty list")
        checked = []
        for i, choice in enumerate(choices):
            try:
                checked.append(_check_value(name, choice))
            except _Bad as exc:
                raise _Bad(f"choices[{i}]: {exc}") from None
        if len({json.dumps(c) for c in checked}) != len(checked):
            raise _Bad(f"choices repeat a value: {choices}")
        return Param(name, "categorical", choices=tuple(checked))
    if kind in ("str", "bool"):
        raise _Bad(f"{name} takes {'names' if kind == 'str' else 'true or false'}: use type categorical")
    if ptype == "float" and kind == "int":
        raise _Bad(f"{name} takes whole numbers: use type int (or categorical)")
    for key in ("low", "high"):
        if key not in spec:
            raise _Bad(f"type {ptype} needs low and high ({key} is missing)")
        try:
            _check_value(name, spec[key])
        except _Bad as exc:
            raise _Bad(f"{key}: {exc}") from None
        if ptype == "int" and not float(spec[key]).is_integer():
            raise _Bad(f"{key}: type int needs a whole number, got {_show(spec[key])}")
    low, high = spec["low"], spec["high"]
    if low > high:
        raise _Bad(f"low {low} is above high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise _Bad(f"log must be true or false, got {_show(log)}")
    if log and low <= 0:
        raise _Bad(f"log: true needs a positive range, but low is {low}")
    step = spec.get("step")
    if step is not None:
        if not _is_number(step) or step <= 0 or (ptype == "int" and not float(step).is_integer()):
            raise _Bad(f"step must be a positive {'whole ' if ptype == 'int' else ''}number, got {_show(step)}")
        if log:
            raise _Bad("step and log: true cannot be combined")
    if ptype == "int":
        return Param(name, "int", int(low), int(high), log, int(step) if step is not None else None)
    return Param(name, "float", float(low), float(high), log, float(step) if step is not None else None)


def _unknown_name(name: Any) -> str:
    close = difflib.get_close_matches(str(name), list(PARAMETERS), n=1)
    return f"unknown parameter{f' (did you mean {close[0]}?)' if close else ''}; known: {', '.join(PARAMETERS)}"


def _check_enqueued(params: dict[str, Param], fixed: dict[str, Any], item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not item:
        raise _Bad("expected a mapping of parameter values")
    out = {}
    for name, value in item.items():
        if name not in params:
            hint = "it is fixed" if name in fixed else "it is not a searched parameter"
            raise _Bad(f"{name}: {hint} (enqueue only values of the params searched)")
        p = params[name]
        try:
            value = _check_value(name, value)
        except _Bad as exc:
            raise _Bad(f"{name}: {exc}") from None
        if p.kind == "categorical" and value not in p.choices:
            raise _Bad(f"{name}: {_show(value)} is not one of the choices {list(p.choices)}")
        if p.kind != "categorical" and not (p.low or 0) <= value <= (p.high or 0):
            raise _Bad(f"{name}: {_show(value)} is outside the searched range {p.low} to {p.high}")
        out[name] = value
    return out


def parse_space(data: Any, source: str = "search space") -> SearchSpace:
    """Validate a parsed space document; raises :class:`SpaceInvalid` naming ``source`` and the key."""
    def fail(key: str, problem: str) -> SpaceInvalid:
        return SpaceInvalid(f"{source}: {key}: {problem}" if key else f"{source}: {problem}", source, key)

    if not isinstance(data, dict):
        raise fail("", "expected a mapping with a 'params' mapping")
    for key in data:
        if key not in ("params", "enqueue"):
            raise fail(str(key), "unknown key (expected params, enqueue)")
    raw = data.get("params")
    if not isinstance(raw, dict) or not raw:
        raise fail("params", "expected a non-empty mapping of parameter names to specs")
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in raw.items():
        if name not in PARAMETERS:
            raise fail(f"params.{name}", _unknown_name(name))
        try:
            parsed = _parse_param(name, spec)
        except _Bad as exc:
            raise fail(f"params.{name}", str(exc)) from None
        if isinstance(parsed, Param):
            params[name] = parsed
        else:
            fixed[name] = parsed[1]
    if not params:
        raise fail("params", "every parameter is fixed: search at least one (a range or choices)")
    enqueue_raw = data.get("enqueue") or []
    if not isinstance(enqueue_raw, list):
        raise fail("enqueue", "expected a list of parameter sets")
    enqueue = []
    for i, item in enumerate(enqueue_raw):
        try:
            enqueue.append(_check_enqueued(params, fixed, item))
        except _Bad as exc:
            raise fail(f"enqueue[{i}]", str(exc)) from None
    return SearchSpace(params, fixed, enqueue, source)


def default_space() -> SearchSpace:
    """The documented default search space (:data:`DEFAULT_SPACE_YAML`)."""
    import yaml

    return parse_space(yaml.safe_load(DEFAULT_SPACE_YAML), "default search space")


def load_space(path: Union[str, Path]) -> SearchSpace:
    """Read and validate the search space file ``path`` (YAML, or JSON for ``.json``); raises :class:`SpaceInvalid`
    naming the file and the key."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpaceInvalid(f"{path}: cannot read the search space file: {reason}", str(path)) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise SpaceInvalid(f"{path}: not valid {kind}: {exc}", str(path)) from None
    return parse_space(data, str(path))
