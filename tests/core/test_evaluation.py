"""Evaluation of a registered model: agreement with Ultralytics' validation, stored outcomes and their queries,
an old model on a newer version, bad input, cancel.

The model is m1 of the session's shared trained workspace (CPU, 96 px, 3 epochs; ``training_testing``), copied once
for the module, where ``v2`` is added, and again for each test, which may write. Such a model finds next to nothing
at real labels (mAP about 0 both ways), so the end-to-end comparison with ``YOLO.val`` is backed by an exact comparison of the metric
math with Ultralytics' validator on synthetic predictions, and the stored outcomes are checked on ``v2``, a version
whose validation labels are the model's own best boxes (so there are true positives to find).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from training_testing import IMGSZ, copy_workspace, make_model, sha256_file

from cvops.models import evaluation as ev
from cvops.data.annotations import NewAnnotation
from cvops.common.errors import NotFoundError, ValidationError
from cvops.models.evaluation import (
    REVIEW_CONF,
    confusion_cell_images,
    error_images,
    evaluate,
    get_evaluation,
    image_outcomes,
    image_predictions,
    list_evaluations,
)
from cvops.common.jobs import Cancelled, CancelToken
from cvops.models.evaluation_store import focus_row, image_review
from cvops.catalog.db import transaction
from cvops.models.registry import get_model
from cvops.versions.materialize import materialize
from cvops.versions.create import create_version, version_images
from cvops.data.workspace import Workspace


@pytest.fixture(scope="module")
def labelled(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained workspace with version ``v2`` (v1 with m1's pseudo labels on its val images)."""
    root = copy_workspace(trained_workspace, tmp_path_factory.mktemp("evaluation") / "ws")
    with Workspace.open(root) as ws:
        _pseudo_label(ws, get_model(ws, "m1").id)
    return root


@pytest.fixture
def env(labelled: Path, tmp_path: Path):
    """This test's copy of ``labelled``: the workspace, m1's id and its checkpoint."""
    ws = Workspace.open(copy_workspace(labelled, tmp_path / "ws"))
    model = get_model(ws, "m1")
    yield ws, model.id, Path(model.weights)
    ws.close()


def _pseudo_label(ws: Workspace, model_id: int) -> None:
    """Replace the labels of v1's val images with the model's three best distinct boxes each; freeze that as v2."""
    first = evaluate(ws, model_id, "v1", split="val", review_conf=0.0)
    items = []
    for iid in image_outcomes(ws, first.id):
        ws.annotations.delete([a.id for a in ws.annotations.for_image(iid)])
        chosen: list[list[float]] = []
        for p in image_predictions(ws, first.id, iid):
            if p["outcome"] == "fn" or any(_iou(p["box"], c) > 0.5 for c in chosen):
                continue
            chosen.append(p["box"])
            items.append(NewAnnotation(iid, p["class_id"], "box", box=p["box"]))
            if len(chosen) == 3:
                break
    ws.annotations.add_many(items, description="pseudo labels")
    assert create_version(ws, "pseudo labels", statuses=("done", "approved")).name == "v2"


def _iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def _gt_count(ws: Workspace, version: str, split: str) -> dict[int, int]:
    return {iid: sum(1 for a in anns if a["kind"] in ("box", "polygon"))
            for iid, _sha, s, anns in version_images(ws, version) if s == split}


def test_metrics_agree_with_ultralytics_val(env) -> None:
    """End to end against ``YOLO.val`` on the real labels of v1 (a 3-epoch model scores about 0 both ways)."""
    ws, model_id, checkpoint = env
    from ultralytics import YOLO

    result = evaluate(ws, model_id, "v1", split="val")
    assert result.params["imgsz"] == IMGSZ and result.images == len(_gt_count(ws, "v1", "val"))
    val = YOLO(str(checkpoint)).val(data=str(materialize(ws, "v1")), split="val", imgsz=IMGSZ, batch=16, plots=False,
                                    device="cpu", verbose=False, project=str(ws.root / "cache" / "val"))
    assert abs(result.map50 - val.box.map50) <= 0.02, (result.metrics, val.box.map50)
    assert abs(result.map50_95 - val.box.map) <= 0.02, (result.metrics, val.box.map)
    out = result.to_dict()
    for key in ("map50", "map50_95", "precision", "recall", "per_class", "confusion_matrix"):
        assert key in out
    json.dumps(out)
    per = {c["class_id"]: c for c in result.per_class}
    assert sum(c["instances"] for c in per.values()) == sum(_gt_count(ws, "v1", "val").values())
    for cid, curve in result.pr_curve.items():
        assert per[int(cid)]["instances"] > 0
        assert len(curve["recall"]) == len(curve["precision"]) == 101


def test_metric_math_matches_ultralytics_validator(tmp_path: Path) -> None:
    """The same predictions give the same numbers as Ultralytics' DetectionValidator + DetMetrics, exactly."""
    import torch
    from ultralytics.models.yolo.detect.val import DetectionValidator

    rng = np.random.default_rng(3)
    validator = DetectionValidator(save_dir=tmp_path)
    stats: dict = {"tp": [], "conf": [], "pred_cls": [], "target_cls": []}
    for n in range(12):
        n_gt = int(rng.integers(0, 5))
        xy = rng.uniform(0, 200, (n_gt, 2))
        gt_box = np.hstack([xy, xy + rng.uniform(10, 50, (n_gt, 2))]).astype(np.float32)
        gt_cls = rng.integers(0, 3, n_gt).astype(np.float32)
        # Predictions: jittered copies of the objects (some relabelled) and random boxes, by confidence.
        jitter = gt_box + rng.normal(0, 4, gt_box.shape).astype(np.float32)
        xy = rng.uniform(0, 200, (6, 2))
        noise = np.hstack([xy, xy + rng.uniform(10, 50, (6, 2))]).astype(np.float32)
        p_box = np.vstack([jitter, noise]).astype(np.float32)
        p_cls = np.concatenate([np.where(rng.random(n_gt) < 0.8, gt_cls, (gt_cls + 1) % 3),
                                rng.integers(0, 3, 6)]).astype(np.float32)
        p_conf = rng.uniform(0.001, 1, len(p_box)).astype(np.float32)
        order = np.argsort(-p_conf, kind="stable")
        p_box, p_cls, p_conf = p_box[order], p_cls[order], p_conf[order]
        ev._score_image(stats, p_box, p_conf, p_cls, gt_box, gt_cls, 3)
        tp = validator._process_batch({"bboxes": torch.from_numpy(p_box), "cls": torch.from_numpy(p_cls)},
                                      {"bboxes": torch.from_numpy(gt_box), "cls": torch.from_numpy(gt_cls)})["tp"]
        validator.metrics.update_stats({"tp": tp, "conf": p_conf, "pred_cls": p_cls, "target_cls": gt_cls,
                                        "target_img": np.unique(gt_cls), "im_name": f"{n}.jpg"})
    validator.metrics.process(save_dir=tmp_path, plot=False)
    box = validator.metrics.box
    cat = {k: np.concatenate(v, 0) for k, v in stats.items()}
    means, per, curves = ev._metrics(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], 3)
    assert 0.1 < means["map50"] < 0.99
    assert means["map50"] == pytest.approx(box.map50, abs=1e-9)
    assert means["map50_95"] == pytest.approx(box.map, abs=1e-9)
    assert means["precision"] == pytest.approx(box.mp, abs=1e-9)
    assert means["recall"] == pytest.approx(box.mr, abs=1e-9)
    assert means["fitness"] == pytest.approx(validator.metrics.fitness, abs=1e-9)
    for i, c in enumerate(box.ap_class_index):
        assert per[int(c)]["ap50"] == pytest.approx(box.ap50[i], abs=1e-9)
        assert per[int(c)]["ap"] == pytest.approx(box.ap[i], abs=1e-9)
        assert len(curves[int(c)]) == 101


def test_stored_outcomes_and_queries(env) -> None:
    ws, model_id, _ = env
    result = evaluate(ws, model_id, "v2", split="val", review_conf=0.001, batch=2)
    eid = result.id
    gt = _gt_count(ws, "v2", "val")
    outcomes = image_outcomes(ws, eid)
    assert set(outcomes) == set(gt)
    rows = ws.db.execute("SELECT image_id, class_id, gt_class_id, confidence, outcome, w, h FROM eval_predictions "
                         "WHERE evaluation_id = ?", [eid]).fetchall()
    for iid, counts in outcomes.items():
        mine = [r for r in rows if r[0] == iid]
        for outcome in ("tp", "fp", "fn", "poor_loc", "wrong_class"):
            assert counts[outcome] == sum(1 for r in mine if r[4] == outcome)
        assert counts["fn"] == gt[iid] - counts["tp"]
    assert all((r[3] is None) == (r[4] == "fn") for r in rows)
    assert all(r[3] >= 0.001 for r in rows if r[3] is not None)
    assert all(r[5] > 0 and r[6] > 0 for r in rows)
    m = result.metrics
    assert m["tp"] > 0 and m["fp"] > 0  # pseudo labels are found, and the low review confidence lets noise in
    assert m["tp"] + m["fn"] == sum(gt.values()) == m["instances"]
    assert m["predictions"] == sum(1 for r in rows if r[4] != "fn")
    # Confusion matrix: columns sum to the objects of each class, rows to the predictions of each class.
    conf = result.confusion
    matrix, ids = np.array(conf["matrix"]), conf["class_ids"]
    assert conf["labels"][-1] == "background" and ids[-1] is None and matrix.shape == (len(ids), len(ids))
    per = {c["class_id"]: c["instances"] for c in result.per_class}
    for j, cid in enumerate(ids[:-1]):
        assert matrix[:, j].sum() == per[cid]
        assert matrix[j, :].sum() == sum(1 for r in rows if r[4] != "fn" and r[1] == cid)
    assert matrix[-1, -1] == 0
    for i, p in enumerate(ids):
        for j, t in enumerate(ids):
            if p is None and t is None:
                continue
            images = confusion_cell_images(ws, eid, p, t)
            assert bool(images) == bool(matrix[i, j]), (p, t, matrix[i, j])
            for iid in images:
                drawn = image_predictions(ws, eid, iid)
                assert drawn and all(len(d["box"]) == 4 for d in drawn)
    # Error images: most first, counts as stored.
    assert error_images(ws, eid, "fp")
    for outcome in ("tp", "fp", "fn", "poor_loc", "wrong_class"):
        ranked = error_images(ws, eid, outcome)
        assert [n for _, n in ranked] == sorted((n for _, n in ranked), reverse=True)
        expected = [(i, c[outcome]) for i, c in outcomes.items() if c[outcome]]
        assert ranked == sorted(expected, key=lambda x: (-x[1], x[0]))
        assert error_images(ws, eid, outcome, limit=1) == ranked[:1]
    with pytest.raises(ValidationError):
        error_images(ws, eid, "bogus")
    # One image's review (the annotator's overlay): predictions, false positives, missed objects, the focus.
    names = {c["class_id"]: c["name"] for c in result.per_class}
    fp_image = error_images(ws, eid, "fp")[0].image_id
    review = image_review(ws, eid, fp_image, ("fp",))
    drawn = image_predictions(ws, eid, fp_image)
    assert [r["id"] for r in review.rows] == [d["id"] for d in drawn] and review.model_name == "m1"
    assert review.focus is not None and review.focus["outcome"] == "fp" and review.focus == review.false_positives[0]
    assert review.focus["confidence"] == max(r["confidence"] for r in review.false_positives)  # the surest first
    assert all(r["outcome"] != "fn" and r["name"] == names[r["class_id"]] for r in review.predictions)
    assert len(review.false_positives) == outcomes[fp_image]["fp"]
    other = review.rows[-1]["id"]
    assert image_review(ws, eid, fp_image, ("fp",), focus_id=other).focus["id"] == other  # the row picked
    assert image_review(ws, eid, fp_image, ("fp",), focus_id=-1).focus == review.focus  # not on it: the first
    with transaction(ws.db):  # a truly missed object (this evaluation may have none)
        ws.db.execute("INSERT INTO eval_predictions (evaluation_id, image_id, class_id, gt_class_id, x, y, w, h, "
                      "confidence, outcome, iou) VALUES (?, ?, NULL, ?, 5, 6, 20, 10, NULL, 'fn', NULL)",
                      [eid, fp_image, result.per_class[0]["class_id"]])
    fn_image = error_images(ws, eid, "fn", unclaimed=True)[0].image_id
    missed = image_review(ws, eid, fn_image, ("fn",))
    assert missed.focus is not None and missed.focus in missed.missed and missed.focus["confidence"] is None
    assert missed.focus["name"] == names[missed.focus["gt_class_id"]] and missed.focus["class_id"] is None
    claimed = {"id": -1, "outcome": "fn", "class_id": 3}  # a miss a wrong-class prediction claimed: not listed
    assert focus_row([claimed, *missed.rows], ("fn",)) == missed.focus
    assert focus_row([claimed, *missed.rows], ("fn", "fp")) is claimed
    # Read back.
    again = get_evaluation(ws, eid)
    assert again.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert eid in [e.id for e in list_evaluations(ws, model_id)] and eid in [e.id for e in list_evaluations(ws, "m1")]
    with pytest.raises(NotFoundError):
        get_evaluation(ws, 99999)


def test_default_version_and_review_confidence(env) -> None:
    ws = env[0]
    result = evaluate(ws, "m1", split="test")  # the model's own version, v1
    assert result.version_name == "v1" and result.split == "test" and result.params["review_conf"] == REVIEW_CONF
    confs = [r[0] for r in ws.db.execute("SELECT confidence FROM eval_predictions WHERE evaluation_id = ? "
                                         "AND confidence IS NOT NULL", [result.id])]
    assert all(c >= REVIEW_CONF for c in confs)
    assert result.unknown_classes == []


def test_review_outcomes_rules() -> None:
    """Outcome rules on hand-made boxes: tp, duplicate fp, wrong class, poor localisation, fn."""
    gt_box = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70]], dtype=np.float32)
    gt_cls = np.array([0, 1, 0, 2], dtype=np.float32)
    p_box = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 44, 50], [80, 80, 90, 90],
                      [60, 60, 70, 70]], dtype=np.float32)
    p_conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1], dtype=np.float32)
    p_cls = np.array([0, 0, 0, 0, 1, 2], dtype=np.float32)
    rows: list = []
    counts = ev._review_image(rows, 7, p_box, p_conf, p_cls, gt_box, gt_cls, [10, 11, 12])
    assert counts == (1, 2, 3, 1, 1, 0)  # tp, fp, fn, poor_loc, wrong_class, ignored; the 0.1 one is below review
    got = [(r[1], r[2], r[8]) for r in rows]
    assert got == [(10, 10, "tp"), (10, None, "fp"), (10, 11, "wrong_class"), (10, 10, "poor_loc"), (11, None, "fp"),
                   (10, 11, "fn"), (None, 10, "fn"), (None, 12, "fn")]
    assert rows[-1][3:7] == (60.0, 60.0, 10.0, 10.0) and rows[-1][7] is None
    conf = ev._confusion(rows, [10, 11, 12], {10: "a", 11: "b", 12: "c"})
    assert conf["matrix"] == [[1, 1, 0, 2], [0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0]]


def test_old_model_on_newer_version(env) -> None:
    ws, model_id, _ = env
    star = ws.classes.add("star")
    val_ids = [iid for iid, _sha, split, _a in version_images(ws, "v2") if split == "val"]
    ws.annotations.add_many([NewAnnotation(i, star.id, "box", box=(1, 1, 20, 20)) for i in val_ids])
    v3 = create_version(ws, "a new class", statuses=("done", "approved"))
    result = evaluate(ws, model_id, v3.name, split="val")
    assert result.unknown_classes == [{"class_id": star.id, "name": "star", "instances": len(val_ids)}]
    star_fn = ws.db.execute("SELECT COUNT(*) FROM eval_predictions WHERE evaluation_id = ? AND outcome = 'fn' "
                            "AND gt_class_id = ?", [result.id, star.id]).fetchone()[0]
    assert star_fn == len(val_ids)
    entry = next(c for c in result.per_class if c["class_id"] == star.id)
    assert entry["known"] is False and entry["recall"] == 0.0 and entry["instances"] == len(val_ids)
    conf = result.confusion
    j = conf["class_ids"].index(star.id)
    assert sum(row[j] for row in conf["matrix"]) == len(val_ids)
    assert str(star.id) not in result.pr_curve
    # mAP over the model's own classes is what it was on v2 (the new class only adds misses).
    before = evaluate(ws, model_id, "v2", split="val")
    assert result.map50 == pytest.approx(before.map50, abs=1e-9)
    assert result.metrics["fn"] == before.metrics["fn"] + len(val_ids)


def test_no_shared_class(env) -> None:
    ws, _, checkpoint = env
    ghosts = [{"class_id": 9000 + i, "name": f"ghost{i}", "color": "#000000"} for i in range(3)]
    mid = make_model(ws, checkpoint, name="ghosts", classes=ghosts)
    with pytest.raises(ValidationError, match="shares no class"):
        evaluate(ws, mid)


def _count(ws: Workspace) -> tuple[int, int, int]:
    return tuple(ws.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("evaluations", "eval_images", "eval_predictions"))


def test_bad_input_stores_nothing(env, tmp_path: Path) -> None:
    ws, model_id, checkpoint = env
    before = _count(ws)
    with pytest.raises(NotFoundError, match="m99"):
        evaluate(ws, "m99")
    with pytest.raises(NotFoundError):
        evaluate(ws, 4242)
    with pytest.raises(NotFoundError, match="champion"):
        evaluate(ws, "champion")
    with pytest.raises(NotFoundError):
        evaluate(ws, model_id, "v42")
    with pytest.raises(ValidationError, match="unknown split"):
        evaluate(ws, model_id, split="holdout")
    # Missing weights file.
    gone = tmp_path / "gone.pt"
    shutil.copy(checkpoint, gone)
    mid = make_model(ws, gone, name="gone")
    gone.unlink()
    with pytest.raises(NotFoundError, match=str(gone)):
        evaluate(ws, mid)
    # Garbage weights (registered as they are) and weights changed after registration.
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    mid = make_model(ws, garbage, name="garbage")
    with pytest.raises(ValidationError, match=str(garbage)):
        evaluate(ws, mid)
    changed = tmp_path / "changed.pt"
    shutil.copy(checkpoint, changed)
    mid = make_model(ws, changed, name="changed")
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(ValidationError, match="changed since"):
        evaluate(ws, mid)
    assert sha256_file(checkpoint) == ws.db.execute("SELECT weights_sha256 FROM models WHERE id = ?",
                                                    [model_id]).fetchone()[0]
    # An empty split names the split and the counts per split.
    info = create_version(ws, "no test split", ratios="90/10", resplit=True, statuses=("done", "approved"))
    with pytest.raises(ValidationError, match=r"split 'test' of version .* has no images \(train: \d+, val: \d+, "
                                              r"test: 0\)"):
        evaluate(ws, model_id, info.name, split="test")
    assert _count(ws) == before


def test_cancel_stores_nothing(env) -> None:
    ws, model_id, _ = env
    before = _count(ws)
    token = CancelToken()
    seen: list[str] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("evaluated"):
            token.cancel()

    with pytest.raises(Cancelled):
        evaluate(ws, model_id, "v2", split="train", batch=2, progress=progress, cancel=token)
    assert [m for m in seen if m.startswith("evaluated")] == ["evaluated 2/" + seen[-1].split("/")[1]]
    assert _count(ws) == before


def test_crowd_regions_are_ignored_as_cocoeval_ignores_them() -> None:
    """A prediction on a crowd region is neither a true nor a false positive, threshold by threshold exactly as
    pycocotools' COCOeval decides (its dtMatches / dtIgnore on a hand-made case), and gets no review row."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    objects = {1: [[0, 0, 10, 10], [100, 0, 130, 30]], 2: [[0, 0, 40, 40]]}
    crowds = {1: [[50, 50, 100, 100]], 2: [[60, 0, 120, 60]]}
    preds = {1: [([0, 0, 10, 10], 0.9), ([60, 60, 70, 70], 0.8), ([45, 50, 62, 60], 0.75), ([200, 200, 210, 210], 0.7),
                 ([90, 90, 110, 110], 0.6), ([101, 1, 128, 31], 0.5), ([100, 0, 130, 30], 0.4)],
             2: [([62, 2, 80, 70], 0.95), ([1, 0, 41, 38], 0.85), ([0, 0, 40, 40], 0.3)]}
    anns, dets, k = [], [], 0
    for iid in objects:
        for box, crowd in [(b, 0) for b in objects[iid]] + [(b, 1) for b in crowds[iid]]:
            k += 1
            x0, y0, x1, y1 = box
            anns.append({"id": k, "image_id": iid, "category_id": 1, "iscrowd": crowd, "area": (x1 - x0) * (y1 - y0),
                         "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]})
        for (x0, y0, x1, y1), score in preds[iid]:
            dets.append({"image_id": iid, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
    gt = COCO()
    gt.dataset = {"images": [{"id": i, "width": 300, "height": 300} for i in objects], "annotations": anns,
                  "categories": [{"id": 1, "name": "a"}]}
    gt.createIndex()
    cocoeval = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
    cocoeval.evaluate()
    stats: dict = {"tp": [], "conf": [], "pred_cls": [], "target_cls": []}
    for iid in objects:
        p_box = np.array([b for b, _ in preds[iid]], dtype=np.float32)
        p_conf = np.array([c for _, c in preds[iid]], dtype=np.float32)
        zeros = np.zeros(len(p_box), dtype=np.float32)
        gt_box, c_box = np.array(objects[iid], dtype=np.float32), np.array(crowds[iid], dtype=np.float32)
        ev._score_image(stats, p_box, p_conf, zeros, gt_box, np.zeros(len(gt_box), np.float32), 1, c_box,
                        np.zeros(len(c_box), np.float32))
        ref = next(e for e in cocoeval.evalImgs if e and e["image_id"] == iid and e["aRng"] == [0, 1e10])
        coco_tp = (ref["dtMatches"] > 0) & ~ref["dtIgnore"].astype(bool)  # a match to a crowd region is ignored
        assert (stats["tp"][-1].T == coco_tp).all(), iid
        assert (stats["ignored"][-1].T == ref["dtIgnore"].astype(bool)).all(), iid
    cat = {k: np.concatenate(v, 0) for k, v in stats.items()}
    assert cat["ignored"][:, 0].sum() == 3 and cat["ignored"][:, -1].sum() == 1  # IoA 0.71 and 0.85: ignored below
    with_crowd = ev._metrics(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], 1, cat["ignored"])[0]
    as_fp = ev._metrics(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], 1)[0]
    keep = ~cat["ignored"][:, 0]
    dropped = ev._metrics(cat["tp"][keep], cat["conf"][keep], cat["pred_cls"][keep], cat["target_cls"], 1)[0]
    assert with_crowd["map50"] == pytest.approx(dropped["map50"]) and with_crowd["map50"] > as_fp["map50"]
    # review: the two predictions inside crowd regions at IoA >= 0.5 get no row and are counted as ignored
    rows: list = []
    counts = ev._review_image(rows, 1, np.array([b for b, _ in preds[1]], np.float32),
                              np.array([c for _, c in preds[1]], np.float32), np.zeros(7, np.float32),
                              np.array(objects[1], np.float32), np.zeros(2, np.float32), [5], 0.25,
                              np.array(crowds[1], np.float32), np.zeros(1, np.float32))
    assert counts == (2, 3, 0, 0, 0, 2)
    assert [r[3:5] for r in rows if r[8] == "fp"] == [(200.0, 200.0), (90.0, 90.0), (100.0, 0.0)]


def test_collect_leaves_crowd_regions_out_of_the_objects_and_ignores_predictions_on_them(tmp_path: Path) -> None:
    """Through the evaluation's own loop: a crowd region (attribute iscrowd) is no instance and no miss, and the
    prediction on it is not an fp; a multi-part polygon is one object with the box of all its parts."""
    from types import SimpleNamespace

    image = tmp_path / "a.jpg"
    image.write_bytes(b"x")
    anns = [{"kind": "polygon", "class_id": 10, "box": None, "attributes": {"polygon_parts": [3, 3]},
             "points": [[0, 0], [10, 0], [10, 10], [30, 30], [40, 30], [40, 40]]},
            {"kind": "box", "class_id": 10, "box": [100, 100, 50, 50], "points": None, "attributes": {"iscrowd": 1}}]

    class Fixed:
        imgsz, resize = 64, False

        def read(self, iid: int, path: Path) -> tuple:
            return np.zeros((8, 8, 3), np.uint8), (1.0, 1.0)

        def __call__(self, images: list, conf: float, iou: float) -> list:
            return [(np.array([[0, 0, 40, 40], [110, 110, 130, 130], [200, 200, 220, 220]], np.float32),
                     np.array([0.9, 0.95, 0.7], np.float32), np.zeros(3, np.float32))]

    setup = ev._Setup({"name": "m"}, SimpleNamespace(name="v"), [ev.EvalItem(1, image, anns)], [10], {10: "a"})
    r = ev._collect(setup, "val", Fixed(), 0.001, 0.7, lambda f, m: None, None, 16, 0.25)
    assert r["metrics"]["instances"] == 1 and r["per_class"][0]["instances"] == 1
    assert (r["metrics"]["tp"], r["metrics"]["fp"], r["metrics"]["fn"], r["metrics"]["ignored"]) == (1, 1, 0, 1)
    assert [row[8] for row in r["pred_rows"]] == ["tp", "fp"]
    # the crowd prediction ranks first; counted as an fp it would halve the precision of the first hit
    assert r["metrics"]["map50"] == pytest.approx(0.995)  # Ultralytics' score of a perfect ranking


# Hand-built fixture with known answers (crowd-free): image -> [(class, box)] and [(class, box, confidence)].
_GT = {1: [(0, [10, 10, 60, 60]), (1, [100, 100, 160, 150])],
       2: [(0, [20, 20, 80, 90]), (0, [120, 30, 170, 80])],
       3: [(1, [30, 30, 90, 70])],
       4: [(0, [0, 0, 40, 40]), (1, [50, 50, 110, 120])]}
_PRED = {1: [(1, [11, 11, 61, 61], 0.95),  # wrong class, more confident, on object 0 ...
             (0, [12, 12, 60, 62], 0.80),  # ... must not steal it from this correct-class box (IoU 0.89): a tp
             (1, [102, 100, 160, 152], 0.70)],
         2: [(0, [20, 22, 82, 90], 0.90), (0, [140, 30, 190, 80], 0.60), (1, [120, 30, 170, 80], 0.85),
             (0, [200, 200, 230, 230], 0.50)],
         3: [(1, [32, 28, 88, 74], 0.40), (0, [30, 30, 90, 70], 0.99)],
         4: [(0, [2, 1, 41, 42], 0.30), (1, [55, 50, 110, 110], 0.65), (1, [0, 0, 40, 40], 0.75)]}


def _coco_style_ap(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray) -> np.ndarray:
    """COCOeval.accumulate's AP from our per-threshold true positives: per class and threshold, precision made
    monotone, sampled at 101 recall points by ``searchsorted`` (a step function, no trapezoid), 0 past the last
    recall. Returns (classes, 10)."""
    rec_thrs = np.linspace(0, 1, 101)
    out = []
    for c in np.unique(target_cls):
        sel = pred_cls == c
        order = np.argsort(-conf[sel], kind="mergesort")
        row = []
        for t in range(tp.shape[1]):
            hits = tp[sel][order, t].astype(float)
            tps, fps = np.cumsum(hits), np.cumsum(1 - hits)
            rc, pr = tps / (target_cls == c).sum(), tps / np.maximum(tps + fps, np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            idx = np.searchsorted(rc, rec_thrs, side="left")
            row.append(np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)], 0.0).mean())
        out.append(row)
    return np.array(out)


def test_per_class_matching_agrees_with_cocoeval() -> None:
    """mAP50 and mAP50-95 against pycocotools' COCOeval on a hand-built case where a more confident wrong-class box
    covers an object that a correct-class box also finds.

    The matching is COCO's: per class, so the wrong-class box never consumes the object (its correct-class box is a
    true positive at every threshold up to its IoU). The figures differ only by the interpolation of the PR curve:
    COCOeval samples the precision envelope at 101 recall points as a step function, Ultralytics' ``ap_per_class``
    (ours, exactly) integrates the envelope at 101 points with the trapezoid rule after adding the end points
    (recall 0, precision 1) and (recall 1, precision 0). The COCO interpolation computed from *our* true positives
    equals COCOeval to 1e-9 (same matches), and ours is within 0.01 of it (0.004 here)."""
    import contextlib
    import io

    import torch
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from ultralytics.utils.metrics import ap_per_class, box_iou

    anns, dets = [], []
    for iid in _GT:
        for c, (x0, y0, x1, y1) in _GT[iid]:
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": c + 1, "iscrowd": 0,
                         "area": (x1 - x0) * (y1 - y0), "bbox": [x0, y0, x1 - x0, y1 - y0]})
        for c, (x0, y0, x1, y1), s in _PRED[iid]:
            dets.append({"image_id": iid, "category_id": c + 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s})
    gt = COCO()
    gt.dataset = {"images": [{"id": i, "width": 300, "height": 300} for i in _GT], "annotations": anns,
                  "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        coco = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
        coco.evaluate()
        coco.accumulate()
        coco.summarize()
    coco_map50_95, coco_map50 = float(coco.stats[0]), float(coco.stats[1])

    stats: dict = {"tp": [], "conf": [], "pred_cls": [], "target_cls": []}
    for iid in _GT:
        preds = sorted(_PRED[iid], key=lambda p: -p[2])
        p_box = np.array([p[1] for p in preds], np.float32)
        p_cls = np.array([p[0] for p in preds], np.float32)
        p_conf = np.array([p[2] for p in preds], np.float32)
        gt_box = np.array([g[1] for g in _GT[iid]], np.float32)
        gt_cls = np.array([g[0] for g in _GT[iid]], np.float32)
        ev._score_image(stats, p_box, p_conf, p_cls, gt_box, gt_cls, 2)
        if iid == 1:  # the steal case: the wrong-class box is no tp, the correct-class box is one up to IoU 0.89
            iou = float(box_iou(torch.tensor(gt_box[:1]), torch.tensor(p_box[1:2]))[0, 0])
            assert 0.85 < iou < 0.9
            assert not stats["tp"][-1][0].any()
            assert (stats["tp"][-1][1] == (np.linspace(0.5, 0.95, 10) <= iou)).all()
    cat = {k: np.concatenate(v, 0) for k, v in stats.items()}
    means, per, _ = ev._metrics(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], 2)
    # ours is Ultralytics' ap_per_class, exactly
    ref = ap_per_class(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"], names={0: "a", 1: "b"})[5]
    assert means["map50"] == pytest.approx(float(ref[:, 0].mean()), abs=1e-12)
    assert means["map50_95"] == pytest.approx(float(ref.mean()), abs=1e-12)
    # same matches as COCOeval: COCO's interpolation of our true positives reproduces its figures
    coco_ours = _coco_style_ap(cat["tp"], cat["conf"], cat["pred_cls"], cat["target_cls"])
    assert float(coco_ours[:, 0].mean()) == pytest.approx(coco_map50, abs=1e-9)
    assert float(coco_ours.mean()) == pytest.approx(coco_map50_95, abs=1e-9)
    # and the interpolation difference is small and stated
    assert means["map50"] == pytest.approx(coco_map50, abs=0.01)
    assert means["map50_95"] == pytest.approx(coco_map50_95, abs=0.01)
    assert 0.4 < means["map50"] < 0.6  # a case with real errors, not all-or-nothing


def test_review_never_lists_an_object_as_missed_and_wrong_class() -> None:
    """The steal case in the review outcomes: the correct-class box is a tp, the confident wrong-class box an fp
    (its object is found); an object claimed only by a wrong-class box is one wrong_class row plus its fn row
    (objects - tp), and the 'missed' error list leaves it out (it is listed under wrong class)."""
    gt_box = np.array([[10, 10, 60, 60], [100, 100, 160, 150]], np.float32)
    gt_cls = np.array([0, 1], np.float32)
    p_box = np.array([[11, 11, 61, 61], [12, 12, 60, 62], [100, 100, 160, 150]], np.float32)
    p_conf = np.array([0.95, 0.8, 0.7], np.float32)
    p_cls = np.array([1, 0, 0], np.float32)
    rows: list = []
    counts = ev._review_image(rows, 1, p_box, p_conf, p_cls, gt_box, gt_cls, [10, 11])
    assert counts == (1, 1, 1, 0, 1, 0)
    assert [(r[1], r[2], r[8]) for r in rows] == [(11, None, "fp"), (10, 10, "tp"), (10, 11, "wrong_class"),
                                                   (10, 11, "fn")]
    missed = [r for r in rows if r[8] == "fn" and r[1] is None]
    assert missed == []  # the only fn was claimed by the wrong-class box


def test_stored_settings_and_missed_objects_apart_from_wrong_class(env) -> None:
    """The result says how it was computed (conf, NMS IoU, imgsz, backend, per-class matching), and the 'missed'
    error list holds only the objects no wrong-class prediction claimed: no object is listed twice."""
    ws, model_id, _ = env
    result = evaluate(ws, model_id, "v2", split="val")
    settings = result.to_dict()["settings"]
    assert settings["conf"] == 0.001 and settings["iou"] == 0.7 and settings["imgsz"] == IMGSZ
    assert "ultralytics predict" in settings["backend"] and settings["matching"].startswith("per class")
    m = result.metrics
    assert m["missed"] == m["fn"] - m["wrong_class"] >= 0
    rows = ws.db.execute("SELECT image_id, class_id, outcome FROM eval_predictions WHERE evaluation_id = ?",
                         [result.id]).fetchall()
    unclaimed: dict[int, int] = {}
    for iid, cid, outcome in rows:
        if outcome == "fn" and cid is None:
            unclaimed[iid] = unclaimed.get(iid, 0) + 1
    assert dict(error_images(ws, result.id, "fn", unclaimed=True)) == unclaimed
    assert sum(unclaimed.values()) == m["missed"]
    assert sum(n for _, n in error_images(ws, result.id, "fn")) == m["fn"]  # all fn rows: objects - tp
