"""Benchmark sets: creation from a version's split, exclusion from every later version (a property test over random
sequences of version creations), the health gate's near-duplicate leakage finding, the CLI and the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import make_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cvops import Workspace
from cvops.benchmarks.sets import (benchmark_items, create_benchmark, get_benchmark, latest_evaluation, leaderboard,
                                   list_benchmarks)
from cvops.cli import cli
from cvops.common.errors import NotFoundError, ValidationError
from cvops.data.health import check
from cvops.data.ingest import import_paths
from cvops.versions.check import check_version
from cvops.versions.create import EmptyVersionError, create_version, version_images

STATUSES = ("new", "needs_review", "done", "approved")


def _build(root: Path, n: int = 14) -> Workspace:
    """``n`` distinct random images, two classes, a box on each, statuses cycling through done/approved/new."""
    src = root / "src"
    for i in range(n):
        make_image(src / f"img{i:03d}.png", size=(40 + i, 32), fmt="PNG", seed=100 + i)
    ws = Workspace.create(root / "ws")
    import_paths(ws, [src], workers=1)
    ws.classes.add("cat")
    ws.classes.add("dog")
    ids = list(ws.images.ids())
    for k, iid in enumerate(ids):
        ws.annotations.add_box(iid, "cat" if k % 2 == 0 else "dog", (1, 2, 10, 12))
    ws.annotations.set_status(ids[: n - 3], "done")
    return ws


@pytest.fixture
def bws(tmp_path: Path):
    ws = _build(tmp_path)
    yield ws
    ws.close()


def _splits(ws: Workspace, name: str) -> dict[int, str]:
    return {r.image_id: r.split for r in version_images(ws, name)}


def test_create_freezes_the_split_and_later_versions_leave_it_out(bws: Workspace) -> None:
    v1 = create_version(bws, "first", ratios="50/20/30", seed=1)
    test_ids = {i for i, s in _splits(bws, v1.name).items() if s == "test"}
    bench = create_benchmark(bws, "holdout", "v1", message="pinned")
    assert bench.images == len(test_ids) > 0 and bench.split == "test" and bench.version == "v1"
    assert {item.image_id for item in benchmark_items(bws, "holdout")} == test_ids
    frozen = {r.image_id: r.annotations for r in version_images(bws, "v1") if r.image_id in test_ids}
    assert {i.image_id: i.annotations for i in benchmark_items(bws, "holdout")} == frozen
    assert sum(bench.stats["annotations"].values()) == sum(len(a) for a in frozen.values())
    # Annotations edited after the freeze do not change the benchmark.
    some = min(test_ids)
    bws.annotations.add_box(some, "dog", (5, 5, 8, 8))
    assert {i.image_id: i.annotations for i in benchmark_items(bws, bench.id)} == frozen
    v2 = create_version(bws, "second", ratios="50/20/30", seed=1, resplit=True)
    assert v2.created and not test_ids & set(_splits(bws, v2.name))
    assert sum(v2.stats["images"].values()) == len(_splits(bws, "v1")) - len(test_ids)
    assert [b.name for b in list_benchmarks(bws)] == ["holdout"]
    assert get_benchmark(bws, str(bench.id)).name == "holdout"


def test_bad_input_is_refused(bws: Workspace) -> None:
    create_version(bws, "first", ratios="80/20")  # no test split
    with pytest.raises(NotFoundError):
        create_benchmark(bws, "b", "v9")
    with pytest.raises(ValidationError, match="has no images"):
        create_benchmark(bws, "b", "v1", split="test")
    with pytest.raises(ValidationError, match="unknown split"):
        create_benchmark(bws, "b", "v1", split="holdout")
    for bad in ("", "two words", "42"):
        with pytest.raises(ValidationError, match="benchmark name"):
            create_benchmark(bws, bad, "v1", split="val")
    create_benchmark(bws, "b", "v1", split="val")
    with pytest.raises(ValidationError, match="exists already"):
        create_benchmark(bws, "b", "v1", split="train")
    with pytest.raises(NotFoundError, match="no benchmark"):
        get_benchmark(bws, "nope")


def test_a_version_of_benchmark_images_only_is_empty(bws: Workspace) -> None:
    create_version(bws, "all", ratios="80/20")
    create_benchmark(bws, "everything", "v1", split="train")
    create_benchmark(bws, "rest", "v1", split="val")
    with pytest.raises(EmptyVersionError, match="held by a benchmark"):
        create_version(bws, "nothing left", statuses=("done",))


def test_an_image_with_the_same_bytes_as_a_member_is_left_out_too(bws: Workspace, tmp_path: Path) -> None:
    v1 = create_version(bws, "first", ratios="50/20/30", seed=2)
    bench = create_benchmark(bws, "holdout", v1.name)
    member = benchmark_items(bws, bench.name)[0]
    again = tmp_path / "again" / "same.png"
    again.parent.mkdir()
    again.write_bytes(member.path.read_bytes())
    bws.annotations.trash([member.image_id])
    bws.annotations.empty_trash()  # the image leaves the catalog; the same file imported again gets a new id
    import_paths(bws, [again.parent], workers=1)
    twin = max(bws.images.ids())
    assert twin != member.image_id
    bws.annotations.add_box(twin, "cat", (1, 2, 10, 12))
    v2 = create_version(bws, "second", resplit=True)
    assert twin not in _splits(bws, v2.name)
    assert member.image_id in {i.image_id for i in benchmark_items(bws, bench.name)}  # still frozen in v1


# -- the property: no benchmark image in any later version's train or val split ---------------------------------------
_step = st.one_of(
    st.tuples(st.just("version"), st.sampled_from(["80/10/10", "50/25/25", "60/40", "34/33/33", "90/10"]),
              st.integers(0, 5), st.sampled_from([None, ("done",), ("done", "approved"), ("new", "done")]),
              st.booleans()),
    st.tuples(st.just("benchmark"), st.sampled_from(["train", "val", "test"])),
    st.tuples(st.just("status"), st.integers(0, 13), st.sampled_from(STATUSES)),
    st.tuples(st.just("annotate"), st.integers(0, 13)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=2, max_size=12))
def test_property_benchmark_images_never_enter_a_later_train_or_val_split(bws: Workspace, steps: list) -> None:
    ids = sorted(bws.images.ids())
    bws.db.execute("SAVEPOINT prop")
    try:
        held: set[int] = set()
        for n, step in enumerate(steps):
            if step[0] == "version":
                _, ratios, seed, flt, resplit = step
                try:
                    info = create_version(bws, f"step {n}", ratios=ratios, seed=seed, statuses=flt, resplit=resplit)
                except EmptyVersionError:
                    continue
                # A new version, or an existing one of identical content: either way its content is computed now.
                members = _splits(bws, info.name)
                assert not held & set(members), f"benchmark images in {info.name}"
                counts = {sp: list(members.values()).count(sp) for sp in set(members.values())}
                assert info.stats["images"] == counts  # the incremental stats lose the members left out
            elif step[0] == "benchmark":
                latest = bws.db.execute("SELECT name FROM versions ORDER BY id DESC LIMIT 1").fetchone()
                if latest is None:
                    continue
                try:
                    bench = create_benchmark(bws, f"b{n}", latest[0], split=step[1])
                except ValidationError:
                    continue
                held |= {i.image_id for i in benchmark_items(bws, bench.name)}
            elif step[0] == "status":
                bws.annotations.set_status([ids[step[1]]], step[2])
            else:
                bws.annotations.add_box(ids[step[1]], "dog", (3, 3, 6, 6))
        # Every version created after a benchmark leaves all of its images out.
        for bid, created in bws.db.execute("SELECT id, created_at FROM benchmarks").fetchall():
            members = {i for (i,) in bws.db.execute("SELECT image_id FROM benchmark_members WHERE benchmark_id = ?",
                                                   [bid])}
            for (vname,) in bws.db.execute("SELECT name FROM versions WHERE created_at > ?", [created]).fetchall():
                later = _splits(bws, vname)
                assert not {i for i in members if later.get(i) in ("train", "val")}
    finally:
        bws.db.execute("ROLLBACK TO prop")
        bws.db.execute("RELEASE prop")


# -- the health gate --------------------------------------------------------------------------------------------------
def test_health_gate_reports_a_near_duplicate_of_a_benchmark_image(bws: Workspace, tmp_path: Path) -> None:
    v1 = create_version(bws, "first", ratios="50/20/30", seed=3)
    bench = create_benchmark(bws, "holdout", v1.name)
    member = benchmark_items(bws, bench.name)[0]
    arr = np.asarray(Image.open(member.path).convert("RGB")).astype(np.int16)
    near = tmp_path / "near" / "near_copy.png"
    near.parent.mkdir()
    Image.fromarray(np.clip(arr + 3, 0, 255).astype(np.uint8)).save(near)
    import_paths(bws, [near.parent], workers=1)
    new_id = max(bws.images.ids())
    bws.annotations.add_box(new_id, "cat", (1, 2, 10, 12))
    v2 = create_version(bws, "second", ratios="98/1/1", resplit=True)  # a resplit: the copy does not follow
    split = _splits(bws, v2.name)[new_id]
    assert split in ("train", "val")
    found = [f for f in check_version(bws, v2.name).findings if f.kind == "benchmark_leakage"]
    assert len(found) == 1 and found[0].severity == "error" and found[0].split == split
    assert found[0].image_ids[0] == new_id and member.image_id in found[0].image_ids
    assert "holdout" in found[0].message
    live = [f for f in check(bws).findings if f.kind == "benchmark_leakage"]
    assert [f.image_ids[0] for f in live] == [new_id]
    assert not check_version(bws, v2.name).ok


def test_health_gate_without_leakage_has_no_such_finding(bws: Workspace) -> None:
    v1 = create_version(bws, "first", ratios="50/20/30", seed=3)
    create_benchmark(bws, "holdout", v1.name)
    v2 = create_version(bws, "second", resplit=True)
    assert not [f for f in check_version(bws, v2.name).findings if f.kind == "benchmark_leakage"]


# -- CLI --------------------------------------------------------------------------------------------------------------
def _cli(ws: Workspace, *args: str) -> tuple[int, object]:
    res = CliRunner().invoke(cli, [*args, "--json", "-w", str(ws.root)])
    return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else None


def test_cli_create_list_show_and_errors(bws: Workspace) -> None:
    create_version(bws, "first", ratios="50/20/30", seed=1)
    code, data = _cli(bws, "benchmark", "create", "holdout", "--from-version", "v1", "-m", "pinned")
    assert code == 0 and data["name"] == "holdout" and data["split"] == "test" and data["images"] > 0
    code, data = _cli(bws, "benchmark", "list")
    assert code == 0 and [b["name"] for b in data] == ["holdout"]
    code, data = _cli(bws, "benchmark", "show", "holdout")
    assert code == 0 and len(data["image_ids"]) == data["images"] and data["evaluations"] == 0
    code, data = _cli(bws, "benchmark", "leaderboard", "holdout")
    assert code == 0 and data == []
    code, data = _cli(bws, "benchmark", "create", "holdout", "--from-version", "v1", "--split", "val")
    assert code == 2 and data["error"]["code"] == "validation" and "exists already" in data["error"]["message"]
    code, data = _cli(bws, "benchmark", "create", "other", "--from-version", "v7")
    assert code == 2 and data["error"]["code"] == "not_found"
    code, data = _cli(bws, "benchmark", "show", "nope")
    assert code == 2 and data["error"]["code"] == "not_found"
    create_version(bws, "no test", ratios="80/20", resplit=True)
    code, data = _cli(bws, "benchmark", "create", "empty", "--from-version", "v2")
    assert code == 2 and data["error"]["code"] == "validation" and "has no images" in data["error"]["message"]
    code, data = _cli(bws, "benchmark", "create", "x", "--from-version", "v1", "--split", "holdout")
    assert code == 2 and data["error"]["code"] == "usage"
    res = CliRunner().invoke(cli, ["benchmark", "list", "-w", str(bws.root)])
    assert res.exit_code == 0 and "holdout" in res.stdout


# -- evaluation on a benchmark and the leaderboard (the shared trained demo workspace) --------------------------------
class GroundTruthPredictor:
    """Predicts each image's frozen ground truth (a perfect model): images are read through ``read``, in order."""

    imgsz = 160
    resize = False

    def __init__(self, items: list, model_ids: list[int]) -> None:
        self.gt = {i.image_id: i.annotations for i in items}
        self.index = {cid: k for k, cid in enumerate(model_ids)}
        self.queue: list[int] = []

    def read(self, image_id: int, path: Path) -> tuple[np.ndarray, tuple[float, float]]:
        self.queue.append(image_id)
        with Image.open(path) as im:
            return np.zeros((im.height, im.width, 3), dtype=np.uint8), (1.0, 1.0)

    def __call__(self, images: list, conf: float, iou: float) -> list:
        out = []
        for _ in images:
            anns = [a for a in self.gt[self.queue.pop(0)] if a["kind"] == "box"]
            boxes = np.array([[a["box"][0], a["box"][1], a["box"][0] + a["box"][2], a["box"][1] + a["box"][3]]
                              for a in anns], dtype=np.float32).reshape(-1, 4)
            out.append((boxes, np.full(len(anns), 0.9, dtype=np.float32),
                        np.array([self.index[a["class_id"]] for a in anns], dtype=np.float32)))
        return out


def test_evaluate_on_a_benchmark_and_the_leaderboard(trained_workspace_copy: Path) -> None:
    from cvops.benchmarks.sets import evaluate_benchmark
    from cvops.models.registry import get_model

    root = str(trained_workspace_copy)
    res = CliRunner().invoke(cli, ["benchmark", "create", "holdout", "--from-version", "v1", "--json", "-w", root])
    assert res.exit_code == 0, res.output
    bench = json.loads(res.stdout)
    res = CliRunner().invoke(cli, ["evaluate", "m1", "--benchmark", "holdout", "--json", "-w", root])
    assert res.exit_code == 0, res.output
    m1 = json.loads(res.stdout)
    assert m1["benchmark"] == "holdout" and m1["images"] == bench["images"] and m1["split"] == "test"
    res = CliRunner().invoke(cli, ["evaluate", "m1", "--benchmark", "holdout", "--split", "val", "--json", "-w", root])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "usage"
    res = CliRunner().invoke(cli, ["evaluate", "m1", "--benchmark", "nope", "--json", "-w", root])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "not_found"
    ws = Workspace.open(trained_workspace_copy)
    try:
        model = get_model(ws, "m2")
        perfect = GroundTruthPredictor(benchmark_items(ws, "holdout"), [c["class_id"] for c in model.classes])
        m2 = evaluate_benchmark(ws, "m2", "holdout", predictor=perfect)
        assert m2.map50 > 0.99 and m2.map50_95 > 0.99 and m2.images == bench["images"]
        assert ws.db.execute("SELECT benchmark_id FROM evaluations WHERE id = ?", [m2.id]).fetchone()[0] == bench["id"]
        board = leaderboard(ws, "holdout")
    finally:
        ws.close()
    assert [r["model"] for r in board] == ["m2", "m1"] and [r["rank"] for r in board] == [1, 2]
    assert board[1]["evaluation_id"] == m1["id"] and board[1]["map50_95"] == m1["map50_95"] < board[0]["map50_95"]
    for row in board:
        assert {"model", "map50_95", "map50", "per_class_ap", "evaluated_at"} <= set(row)
    with_instances = {c["name"] for c in m2.per_class if c["instances"]}
    assert with_instances and all(board[0]["per_class_ap"][n] > 0.99 for n in with_instances)
    res = CliRunner().invoke(cli, ["benchmark", "leaderboard", "holdout", "--json", "-w", root])
    assert res.exit_code == 0 and json.loads(res.stdout) == board
    res = CliRunner().invoke(cli, ["benchmark", "leaderboard", "holdout", "-w", root])
    assert res.exit_code == 0 and res.stdout.index("m2") < res.stdout.index("m1")
    res = CliRunner().invoke(cli, ["benchmark", "show", "holdout", "--json", "-w", root])
    assert json.loads(res.stdout)["evaluations"] == 2


def test_leaderboard_keeps_each_models_latest_evaluation_and_breaks_ties_by_time(trained_workspace_copy: Path) -> None:
    from cvops.benchmarks.sets import evaluate_benchmark
    from cvops.models.registry import get_model

    ws = Workspace.open(trained_workspace_copy)
    try:
        create_benchmark(ws, "holdout", "v1")
        items = benchmark_items(ws, "holdout")
        ids = {m: [c["class_id"] for c in get_model(ws, m).classes] for m in ("m1", "m2")}
        assert latest_evaluation(ws, "m1", "holdout") is None
        first = evaluate_benchmark(ws, "m1", "holdout", predictor=GroundTruthPredictor(items, ids["m1"]))
        evaluate_benchmark(ws, "m2", "holdout", predictor=GroundTruthPredictor(items, ids["m2"]))
        assert [r["model"] for r in leaderboard(ws, "holdout")] == ["m1", "m2"]  # equal scores: earlier first

        class Nothing(GroundTruthPredictor):
            def __call__(self, images: list, conf: float, iou: float) -> list:
                self.queue.clear()
                return [(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
                        for _ in images]

        latest = evaluate_benchmark(ws, "m1", "holdout", predictor=Nothing(items, ids["m1"]))
        board = leaderboard(ws, "holdout")
        assert latest_evaluation(ws, "m1", "holdout").id == latest.id
    finally:
        ws.close()
    assert [r["model"] for r in board] == ["m2", "m1"]
    assert board[1]["evaluation_id"] == latest.id != first.id and board[1]["map50_95"] == 0.0
