"""The steps a pipeline file can name (:data:`STEPS`): for each, what its inputs are (hashed for the cache), how it
runs (calling the core: training, evaluation, the gate, the registry, export, verification, bundles, deployment; the
data steps are in :mod:`cvops.pipelines.intake`) and whether its recorded outputs still exist.
:mod:`cvops.pipelines.runner` runs them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

from cvops.common.errors import NotFoundError, ValidationError
from cvops.common.jobs import CancelToken, Cancelled, Progress, sub_progress
from cvops.pipelines import intake
from cvops.pipelines.context import StepContext, StepFailed, hash_inputs, resolve
from cvops.pipelines.gate import decide


def _model_report(evaluation: Any, latency: Optional[float] = None) -> dict[str, Any]:
    return {"model": evaluation.model_name, "evaluation_id": evaluation.id, "map50": evaluation.map50,
            "map50_95": evaluation.map50_95, "latency_ms": latency,
            "per_class": [{"name": c["name"], "ap": c.get("ap"), "ap50": c.get("ap50")}
                          for c in evaluation.per_class]}


def _start_weights(c: StepContext, s: dict[str, Any]) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(weights path, its sha256, the champion's name) the train step starts from: with ``from: champion`` the
    champion, else (no champion yet) the ``weights`` file if given, else the preset's start."""
    from cvops.catalog.store import sha256_file
    from cvops.models.registry import get_model

    if s["from"] == "champion":
        try:
            champion = get_model(c.ws, "champion")
        except NotFoundError:
            pass  # no champion yet
        else:
            return champion.weights, champion.weights_sha256, champion.name
    if s["weights"]:
        path = resolve(c.pipeline, s["weights"])
        if not path.is_file():
            raise ValidationError(f"train weights {path} do not exist")
        return str(path), sha256_file(path), None
    return None, None, None


def _in_train(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    """With ``from: champion``, a champion that this step's last successful run trained (and a promote step made
    champion) counts as the champion that run started from: otherwise every run would fine-tune its own output
    again, with nothing new to learn."""
    _, sha, champion = _start_weights(c, s)
    last = c.last
    if (champion is not None and last is not None
            and last.outputs.get("context", {}).get("model_sha256") == sha):
        sha, champion = last.inputs.get("weights_sha256"), last.inputs.get("from_champion")
    keys = ("preset", "epochs", "imgsz", "batch", "seed")
    return {"version_hash": c.get("version_hash"), **{k: s[k] for k in keys}, "weights_sha256": sha,
            "from_champion": champion}


def _continue_training(c: StepContext, inputs: dict[str, Any], progress: Progress, cancel: CancelToken,
                       log: Callable[[str], None]) -> Any:
    """The training run an interrupted attempt of this step (same inputs) left, carried on: followed if its child
    still runs, resumed from its ``last.pt`` if it was cancelled or failed; None when there is none to carry on (or
    the resume failed: the step then starts a new run)."""
    from cvops.training.runner import FINAL_STATES, resume, run_result, supervise

    attempt = c.attempt
    run_id = (attempt.outputs.get("run_id") if attempt is not None and attempt.state in ("running", "failed",
                                                                                          "cancelled") else None)
    if run_id is None or attempt is None or attempt.input_hash != hash_inputs({"kind": "train", "inputs": inputs}):
        return None
    try:
        result = run_result(c.ws, run_id)
    except NotFoundError:
        return None
    c.record({"run_id": run_id})
    if result.state not in FINAL_STATES:
        log(f"training run {run_id} of the interrupted pipeline run {attempt.run_id}: following it")
        result = supervise(c.ws, run_id, progress=progress, cancel=cancel)
    if result.state in ("cancelled", "failed"):
        last = Path(result.run_dir) / "train" / "weights" / "last.pt"
        if not last.is_file():
            log(f"training run {run_id} {result.state} without a checkpoint: starting a new run")
            return None
        log(f"resuming training run {run_id} from its last checkpoint (epoch {result.epochs_done})")
        result = resume(c.ws, run_id, progress=progress, cancel=cancel)
        if result.state == "failed":  # e.g. a checkpoint cut short by the kill: train afresh rather than fail
            log(f"resuming training run {run_id} failed ({result.error}): starting a new run")
            return None
    return result


def _run_train(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
               cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.models.registry import model_for_run
    from cvops.training.runner import start_run, supervise

    result = _continue_training(c, inputs, progress, cancel, log)
    if result is None:
        weights, _, champion = _start_weights(c, s)
        if champion:
            log(f"fine-tuning from the champion {champion}")
        run_id = start_run(c.ws, c.get("version_id"), preset=s["preset"], epochs=s["epochs"], imgsz=s["imgsz"],
                           batch=s["batch"], device=s["device"], seed=s["seed"], weights=weights)
        c.record({"run_id": run_id})
        log(f"training run {run_id} started")
        result = supervise(c.ws, run_id, progress=progress, cancel=cancel)
    log(f"run {result.run_id}: {result.state} after {result.epochs_done} epoch(s)")
    if result.state == "cancelled":
        raise Cancelled()
    model = model_for_run(c.ws, result.run_id)
    if result.state != "finished" or model is None:
        raise StepFailed(f"training run {result.run_id} {result.state}: {result.error or 'no model registered'}",
                         {"run_id": result.run_id})
    log(f"registered model {model.name}")
    return {"run_id": result.run_id, "metrics": result.metrics,
            "context": {"model": model.name, "model_id": model.id, "model_sha256": model.weights_sha256}}


def _valid_model(c: StepContext, outputs: dict[str, Any]) -> bool:
    from cvops.models.registry import get_model

    ctx = outputs.get("context", {})
    try:
        model = get_model(c.ws, ctx["model_id"])
    except (NotFoundError, KeyError):
        return False
    return model.weights_sha256 == ctx["model_sha256"] and Path(model.weights).is_file()


def _challenger(c: StepContext, s: dict[str, Any]) -> Any:
    from cvops.models.registry import get_model

    return get_model(c.ws, s["model"] or c.get("model_id"))


def _eval_target(c: StepContext, s: dict[str, Any], model: Any) -> tuple[str, str]:
    """(version name, content hash) the evaluate step scores on."""
    from cvops.versions.create import get_version

    info = get_version(c.ws, s["version"] or c.get("version_id") or model.version_id)
    return info.name, info.content_hash


def _in_evaluate(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    model = _challenger(c, s)
    if s["benchmark"]:
        from cvops.benchmarks.sets import get_benchmark

        bench = get_benchmark(c.ws, s["benchmark"])
        return {"model_sha256": model.weights_sha256, "benchmark": bench.name,
                "benchmark_hash": bench.content_hash}
    version, version_hash = _eval_target(c, s, model)
    return {"model_sha256": model.weights_sha256, "version_hash": version_hash, "split": s["split"]}


def _current_champion(c: StepContext) -> Any:
    from cvops.models.registry import get_model

    try:
        return get_model(c.ws, "champion")
    except NotFoundError:
        return None


def _run_evaluate(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                  cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.models.evaluation import evaluate

    model = _challenger(c, s)
    if s["benchmark"]:
        from cvops.benchmarks.sets import evaluate_benchmark, get_benchmark

        bench = get_benchmark(c.ws, s["benchmark"])
        version, split, where = bench.version, bench.split, f"benchmark {bench.name}"

        def score(model_id: int, prog: Progress) -> Any:
            return evaluate_benchmark(c.ws, model_id, bench.id, device=s["device"], cancel=cancel, progress=prog)
    else:
        version, _ = _eval_target(c, s, model)
        split, where = s["split"], f"{version}/{s['split']}"

        def score(model_id: int, prog: Progress) -> Any:
            return evaluate(c.ws, model_id, version, split=split, device=s["device"], cancel=cancel, progress=prog)
    champion = _current_champion(c)
    if champion is not None and champion.id == model.id:
        champion = None
    span = 0.5 if champion else 1.0
    ours = score(model.id, sub_progress(progress, 0.0, span))
    log(f"challenger {model.name} on {where}: mAP50-95 {ours.map50_95:.4f}, mAP50 {ours.map50:.4f}")
    theirs = None
    if champion is not None:
        theirs = score(champion.id, sub_progress(progress, span, 1.0))
        log(f"champion {champion.name}: mAP50-95 {theirs.map50_95:.4f}, mAP50 {theirs.map50:.4f}")
    else:
        log("no champion to compare with")
    evaluation = {"version": version, "split": split, "benchmark": s["benchmark"], "challenger": _model_report(ours),
                  "champion": _model_report(theirs) if theirs else None,
                  "champion_model_id": champion.id if champion else None}
    return {"context": {"evaluation": evaluation, "model": model.name, "model_id": model.id,
                        "model_sha256": model.weights_sha256}}


def _valid_evaluate(c: StepContext, outputs: dict[str, Any]) -> bool:
    """The recorded comparison still holds: the champion it compared with is still the champion (or the challenger
    became it, through this pipeline's promote step)."""
    from cvops.models.evaluation_store import get_evaluation

    ctx = outputs.get("context", {})
    evaluation = ctx.get("evaluation") or {}
    try:
        for side in ("challenger", "champion"):
            if evaluation.get(side):
                get_evaluation(c.ws, evaluation[side]["evaluation_id"])
    except NotFoundError:
        return False
    champion = _current_champion(c)
    now = champion.id if champion else None
    return now in (evaluation.get("champion_model_id"), ctx.get("model_id"))


def _in_gate(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    evaluation = c.get("evaluation")
    return {"challenger": {**evaluation["challenger"], "latency_ms": c.get("latency_ms")},
            "champion": evaluation["champion"], "settings": s}


def _run_gate(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
              cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    decision = decide(inputs["challenger"], inputs["champion"], s)
    for crit in decision["criteria"]:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[crit["passed"]]
        log(f"{crit['name']}: challenger {crit['challenger']}, champion {crit['champion']}, "
            f"threshold {crit['threshold']}: {verdict}")
    log(decision["reason"])
    return {"decision": decision, "context": {"promote": decision["promote"]}}


def _in_promote(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"model_sha256": c.get("model_sha256"), "gate": c.get("promote")}


def _run_promote(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                 cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.models.registry import promote

    before = _current_champion(c)
    model = promote(c.ws, c.get("model_id"), by=f"pipeline run {c.run_id}")
    log(f"{model.name} is the champion" + (f" (was {before.name})" if before and before.id != model.id else ""))
    return {"champion": model.name, "previous": before.name if before else None}


def _valid_promote(c: StepContext, outputs: dict[str, Any]) -> bool:
    champion = _current_champion(c)
    return champion is not None and champion.name == outputs.get("champion")


def _in_export(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"model_sha256": c.get("model_sha256"), "precisions": s["precisions"], "imgsz": s["imgsz"]}


def _run_export(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.deploy.export import export_model

    exports = []
    n = len(s["precisions"])
    for i, precision in enumerate(s["precisions"]):
        info = export_model(c.ws, c.get("model_id"), imgsz=s["imgsz"], half=precision == "fp16",
                            int8=precision == "int8", cancel=cancel,
                            progress=sub_progress(progress, i / n, (i + 1) / n))
        log(f"export {info.id}: {info.precision} {info.path} ({info.size_bytes / 1e6:.1f} MB)")
        exports.append({"id": info.id, "precision": info.precision, "sha256": info.sha256, "path": info.path})
    return {"context": {"exports": exports}}


def _valid_exports(c: StepContext, outputs: dict[str, Any]) -> bool:
    from cvops.deploy.export import get_export

    try:
        return all(Path(get_export(c.ws, e["id"]).path).exists()
                   for e in outputs.get("context", {}).get("exports", []))
    except NotFoundError:
        return False


def _in_verify(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"exports": [e["sha256"] for e in c.get("exports")], "version_hash": c.get("version_hash"),
            "split": s["split"], "latency_runs": s["latency_runs"], "min_map50_95": s["min_map50_95"],
            "allow_below_floor": s["allow_below_floor"]}


def _run_verify(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.deploy.verify import verify_export

    results, latency = [], None
    exports = c.get("exports")
    floor = {} if s["min_map50_95"] is None else {"min_map50_95": s["min_map50_95"]}
    for i, e in enumerate(exports):
        report = verify_export(c.ws, e["id"], version_ref=c.get("version_id"), split=s["split"],
                               latency_runs=s["latency_runs"], cancel=cancel, allow_below_floor=s["allow_below_floor"],
                               progress=sub_progress(progress, i / len(exports), (i + 1) / len(exports)), **floor)
        cpu = (report.export.get("latency_ms") or {}).get("cpu") or {}
        if latency is None and cpu.get("p50") is not None:
            latency = cpu["p50"]
        log(f"export {e['id']} ({e['precision']}): {'PASS' if report.passed else 'FAIL'}, "
            f"mAP50-95 {report.export.get('map50_95')}, delta {report.delta_map50_95:+.4f}, p50 {cpu.get('p50')} ms")
        if report.quality:
            log(f"quality: {report.quality.get('message')}")
        results.append({"export_id": e["id"], "passed": report.passed, "delta_map50_95": report.delta_map50_95,
                        "quality": report.quality, "latency_ms": cpu.get("p50")})
    out = {"results": results, "context": {"latency_ms": latency}}
    failed = [r["export_id"] for r in results if not r["passed"]]
    if failed:
        raise StepFailed(f"export gate failed for export(s) {', '.join(map(str, failed))}", out)
    return out


def _in_bundle(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    return {"export_sha256": c.get("exports")[0]["sha256"], "zip": s["zip"]}


def _run_bundle(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.deploy.bundle import make_bundle

    export = c.get("exports")[0]
    # the bundle folder is named after the pipeline: a deploy target holds it as TARGET/<name>, replaced atomically
    # by each deployment, so the edge device always runs the same path
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", c.pipeline.name).strip("-.") or "model"
    out = c.ws.root / "pipelines" / "bundles" / f"run{c.run_id}-export{export['id']}" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    info = make_bundle(c.ws, export["id"], out, zip=s["zip"])
    log(f"bundle {info.path} ({len(info.files)} files) of model {info.model}")
    return {"files": len(info.files), "zip": str(info.zip_path) if info.zip_path else None,
            "context": {"bundle": str(info.path)}}


def _valid_bundle(c: StepContext, outputs: dict[str, Any]) -> bool:
    return (Path(outputs.get("context", {}).get("bundle", "")) / "model.json").is_file()


def _targets(c: StepContext, s: dict[str, Any]) -> list[str]:
    return [t if t.startswith("ssh://") else str(resolve(c.pipeline, t)) for t in s["targets"]]


def _in_deploy(c: StepContext, s: dict[str, Any]) -> dict[str, Any]:
    from cvops.catalog.store import sha256_file

    return {"bundle": sha256_file(Path(c.get("bundle")) / "model.json"), "targets": _targets(c, s)}


def _run_deploy(c: StepContext, s: dict[str, Any], inputs: dict[str, Any], progress: Progress,
                cancel: CancelToken, log: Callable[[str], None]) -> dict[str, Any]:
    from cvops.deploy.deploy import deploy_bundle

    reports = []
    targets = _targets(c, s)
    for i, target in enumerate(targets):
        cancel.raise_if_cancelled()
        progress(i / len(targets), f"deploying to {target}")
        report = deploy_bundle(c.ws, c.get("bundle"), target)
        log(f"{target}: {'deployed, selftest ok' if report.ok else 'FAILED: ' + str(report.error)}")
        reports.append({"target": target, "ok": report.ok, "deployed_to": report.deployed_to,
                        "error": report.error})
        if not report.ok:
            raise StepFailed(f"deploy to {target} failed: {report.error}", {"targets": reports})
    return {"targets": reports, "bundle_sha256": inputs["bundle"]}


def _valid_deploy(c: StepContext, outputs: dict[str, Any]) -> bool:
    """Every folder target still holds this bundle (another deployment may have replaced it since)."""
    from cvops.catalog.store import sha256_file

    for t in outputs.get("targets", []):
        if t["target"].startswith("ssh://"):
            continue
        try:
            if sha256_file(Path(t["deployed_to"] or t["target"]) / "model.json") != outputs.get("bundle_sha256"):
                return False
        except OSError:
            return False
    return True


Inputs = Callable[[StepContext, dict[str, Any]], dict[str, Any]]
Run = Callable[[StepContext, dict[str, Any], dict[str, Any], Progress, CancelToken, Callable[[str], None]], dict[str, Any]]
Valid = Callable[[StepContext, dict[str, Any]], bool]
STEPS: dict[str, tuple[Inputs, Run, Valid]] = {
    "ingest": (intake.in_ingest, intake.run_ingest, lambda c, o: True),
    "check": (intake.in_check, intake.run_check, lambda c, o: True),
    "version": (intake.in_version, intake.run_version, intake.valid_version),
    "train": (_in_train, _run_train, _valid_model),
    "evaluate": (_in_evaluate, _run_evaluate, _valid_evaluate),
    "gate": (_in_gate, _run_gate, lambda c, o: True),
    "promote": (_in_promote, _run_promote, _valid_promote),
    "export": (_in_export, _run_export, _valid_exports),
    "verify": (_in_verify, _run_verify, _valid_exports),
    "bundle": (_in_bundle, _run_bundle, _valid_bundle),
    "deploy": (_in_deploy, _run_deploy, _valid_deploy),
}
