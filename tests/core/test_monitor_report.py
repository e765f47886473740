"""The drift report (cvops.monitoring.report) on pulled field logs written here, against a planted reference: data
like the reference is ok, a darker and blurrier field alarms and says so in words, a redeployed model's older records
are left out, alarms reach the pipeline watch once, bad options are refused. The reference computed from a real
export by the device's code, and the whole path from run.py, are covered by tests/e2e/test_monitoring_loop.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cvops.cli import cli
from cvops.common.errors import NotFoundError, ValidationError
from cvops.data.workspace import Workspace
from cvops.monitoring import report as report_mod
from cvops.monitoring.field import device_dir, encode_embedding
from cvops.monitoring.reference import Reference
from cvops.monitoring.report import compare_window, last_report, monitor_report, parse_time, timeline, verdict
from cvops.pipelines.watch import pending_alarms

SHA = "ab" * 32
NAMES = ["circle", "square", "triangle"]


def records(n: int, seed: int, brightness: float = 120.0, sharpness: float = 500.0, start: float = 1.7e9,
            sha: str = SHA, latency: float = 10.0, step: float = 60.0) -> list[dict[str, Any]]:
    """Schema-v1 records; the embedding follows the brightness (a darker field looks different to the model)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = rng.normal(brightness, 10)
        out.append({"v": 1, "time": start + i * step, "device": "cam-1", "source": f"img{i}.jpg", "frame": None,
                    "model_sha256": sha, "latency_ms": float(rng.normal(latency, 1)), "conf": 0.25,
                    "stats": {"brightness": b, "contrast": float(rng.normal(40, 5)),
                              "sharpness": float(rng.normal(sharpness, 50)), "width": 256.0, "height": 256.0,
                              "aspect": 1.0},
                    "detections": [[int(rng.integers(3)), float(rng.uniform(0.3, 0.95)), 10, 10, 20, 20]
                                   for _ in range(int(rng.integers(1, 4)))],
                    "embedding": rng.normal(b / 120.0, 1.0, 16).astype(np.float32), "capture": None,
                    "capture_reason": None})
    return out


def write_log(ws: Workspace, device: str, rows: list[dict[str, Any]], name: str = "field-20261203T000000Z-1.jsonl"
              ) -> Path:
    folder = device_dir(ws, device) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, "device": device, "embedding": encode_embedding(r["embedding"])}) + "\n")
    return path


@pytest.fixture
def planted(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace whose model ``SHA`` has a planted reference of 150 records."""
    ref = Reference("m1", 1, 1, SHA, "v1", 1, ["val", "test"], NAMES, records(150, 0))
    calls: list[str] = []

    def fake(ws_: Workspace, sha: str, progress: Any = None, cancel: Any = None) -> Reference:
        calls.append(sha)
        if sha != SHA:
            raise NotFoundError(f"unknown model {sha[:8]}")
        return ref

    monkeypatch.setattr(report_mod, "reference_for", fake)
    ws.reference_calls = calls  # type: ignore[attr-defined]
    return ws


def test_windows_like_the_reference_are_ok_and_a_darker_blurrier_field_alarms() -> None:
    ref = records(150, 0)
    statuses = [report_mod.drift.worst(compare_window(ref, records(60, seed), records(60, 100 + seed), NAMES))
                for seed in range(1, 21)]
    assert statuses.count("alarm") <= 1 and statuses.count("ok") >= 17, statuses  # false alarms <= 5 %
    drifted = compare_window(ref, records(60, 50, brightness=70, sharpness=150), records(60, 51), NAMES)
    status = report_mod.drift.worst(drifted)
    moved = report_mod.drift.moved(drifted)
    assert status == "alarm" and {"brightness", "sharpness", "embedding"} <= set(moved)
    assert not {"width", "height", "aspect", "latency"} & set(moved)
    words = verdict("cam-1", status, drifted, "model m1 on v1")
    assert words.startswith("cam-1: ALARM") and "darker" in words and "blurrier" in words and "cvops queue build" in words
    assert "OK" in verdict("cam-1", "ok", [], "model m1 on v1")


def test_latency_is_compared_with_the_devices_own_baseline() -> None:
    ref = records(100, 0)
    slow = compare_window(ref, records(60, 1, latency=25), records(60, 2, latency=10), NAMES)
    latency = next(s for s in slow if s.name == "latency")
    assert latency.status == "alarm" and latency.score == pytest.approx(2.5, rel=0.15)
    assert "latency" not in [s.name for s in compare_window(ref, records(60, 1), [], NAMES)]  # no baseline yet


def test_report_over_pulled_logs(planted: Workspace) -> None:
    ws = planted
    now = time.time()
    write_log(ws, "cam-1", records(300, 1, start=now - 3 * 86400, step=300))
    ok = monitor_report(ws, "cam-1")
    assert ok.status == "ok" and ok.alarm_raised is None and not pending_alarms(ws)
    device = ok.devices[0]
    assert device.images == 200 and device.other_models == 0  # the default window: the last 200
    assert {s.name for s in device.signals} >= {"brightness", "embedding", "confidence", "class_mix", "latency"}
    assert ok.reference["model"] == "m1" and device.reference == ok.reference and Path(ok.path).is_file()
    assert last_report(ws)["status"] == "ok"

    write_log(ws, "cam-1", records(80, 2, brightness=60, sharpness=100, start=now - 3600, step=10),
              name="field-20261204T000000Z-1.jsonl")
    drifted = monitor_report(ws, "cam-1", window=80)
    assert drifted.status == "alarm" and {"brightness", "sharpness"} <= set(drifted.devices[0].moved)
    alarms = pending_alarms(ws)
    assert len(alarms) == 1 and alarms[0][1]["source"] == "monitor:cam-1"
    assert "darker" in alarms[0][1]["message"] and alarms[0][1]["details"]["moved"] == drifted.devices[0].moved
    assert monitor_report(ws, "cam-1", window=80).status == "alarm" and len(pending_alarms(ws)) == 1  # not twice
    assert monitor_report(ws, "cam-1", window=80, raise_alarms=False).alarm_raised is None
    assert last_report(ws)["status"] == "alarm"

    since = monitor_report(ws, "cam-1", since=parse_time("2h", now))  # the drifted hour only
    assert since.devices[0].images == 80 and since.status == "alarm"
    before = monitor_report(ws, "cam-1", until=now - 2 * 3600, since=now - 4 * 86400)
    assert before.devices[0].images == 300 and before.status == "ok"


def test_a_redeployed_models_older_records_are_left_out(planted: Workspace) -> None:
    ws = planted
    write_log(ws, "cam-1", records(50, 1, sha="cd" * 32) + records(100, 2, start=1.8e9))
    report = monitor_report(ws, "cam-1")
    assert report.devices[0].images == 100 and report.devices[0].other_models == 50
    assert ws.reference_calls == [SHA]  # type: ignore[attr-defined]


def test_bad_lines_are_reported_and_the_rest_is_used(planted: Workspace) -> None:
    ws = planted
    path = write_log(ws, "cam-1", records(40, 1))
    with path.open("a", encoding="utf-8") as f:
        f.write('{"v": 1, "time": "yesterday"}\n{not json\n{"v": 1, "ti')
    report = monitor_report(ws, "cam-1")
    assert report.devices[0].images == 40 and len(report.problems) == 3
    assert all(str(path) in p for p in report.problems) and "truncated" in report.problems[-1]


def test_bad_options_and_missing_data(ws: Workspace, planted: Workspace) -> None:
    with pytest.raises(NotFoundError, match="cvops monitor pull"):
        monitor_report(ws)
    write_log(ws, "cam-1", records(10, 1))
    with pytest.raises(NotFoundError, match="cam-9.*cam-1"):
        monitor_report(ws, "cam-9")
    with pytest.raises(ValidationError, match="at least 2"):
        monitor_report(ws, window=1)
    with pytest.raises(ValidationError, match="not a time"):
        parse_time("last tuesday")
    assert parse_time("2026-12-01") == pytest.approx(1796083200.0)
    assert parse_time("90m", now=10_000.0) == 10_000.0 - 5400
    one = monitor_report(ws, since=time.time() + 3600)  # nothing in the window: said, not an error
    assert one.devices == [] and "no field records in the window" in one.problems[0]


def test_unknown_model_in_the_log_names_it(ws: Workspace) -> None:
    write_log(ws, "cam-1", records(10, 1, sha="ef" * 32))
    with pytest.raises(NotFoundError, match="not an export of this workspace"):
        monitor_report(ws, "cam-1")


def test_timeline_per_day(planted: Workspace) -> None:
    ws = planted
    day = 86400.0
    write_log(ws, "cam-1", records(30, 1, start=10 * day, step=600) + records(30, 2, brightness=60, start=11 * day,
                                                                              step=600))
    days = timeline(ws, "cam-1")
    assert [d["images"] for d in days] == [30, 30] and days[1]["start"] - days[0]["start"] == day
    assert days[0]["signals"]["brightness"]["status"] == "ok" and days[1]["signals"]["brightness"]["status"] == "alarm"
    assert days[1]["signals"]["brightness"]["min_score"] == 0.25 and sum(days[0]["class_mix"].values()) > 30
    assert 0.3 < days[0]["mean_confidence"] < 0.95


def test_cli_report(planted: Workspace) -> None:
    ws = planted
    write_log(ws, "cam-1", records(60, 1))
    write_log(ws, "cam-2", records(60, 2, brightness=50))
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "alarm" and [d["status"] for d in data["devices"]] == ["ok", "alarm"]
    assert data["reference"]["described"].startswith("model m1") and data["devices"][1]["moved"]
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "report", "--device", "cam-1", "--since",
                                      "2000-01-01", "--fail-on", "warn"])
    assert result.exit_code == 0 and "cam-1: OK" in result.stdout
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "monitor", "report", "--device", "cam-2", "--fail-on",
                                      "alarm"])
    assert result.exit_code == 1 and "ALARM" in result.stdout and "brightness" in result.stdout


def test_the_reference_is_the_device_code_on_the_versions_held_out_images(exported_workspace: tuple[Path, int],
                                                                          tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from training_testing import copy_workspace

    from cvops.catalog.store import sha256_file
    from cvops.deploy import field_log
    from cvops.deploy.edge_runner import Detector, read_image
    from cvops.deploy.graph_passes import embedding_output
    from cvops.monitoring import reference as reference_mod
    from cvops.monitoring.reference import reference_for

    root = copy_workspace(exported_workspace[0], tmp_path / "ws")
    with Workspace.open(root) as ws:
        path = Path(ws.root / ws.db.execute("SELECT path FROM exports WHERE id = ?",
                                            [exported_workspace[1]]).fetchone()[0])
        assert embedding_output(path) == 1  # as every export made by the workbench has it
        sha = sha256_file(path)
        ws.db.execute("UPDATE exports SET sha256 = ? WHERE id = ?", [sha, exported_workspace[1]])
        ws.db.conn.commit()
        ref = reference_for(ws, sha)
        held_out = ws.db.execute("SELECT COUNT(*) FROM version_members m JOIN version_states s ON s.hash = "
                                 "m.state_hash WHERE m.version_id = ? AND s.split IN ('val', 'test')",
                                 [ref.version_id]).fetchone()[0]
        assert ref.splits[:1] == ["val"] and (len(ref.records) == held_out or "train" in ref.splits)
        assert ref.describe().startswith(f"model {ref.model} (export {exported_workspace[1]}, ONNX {sha[:8]})")
        first = ref.records[0]
        assert first["device"] == "reference" and first["model_sha256"] == sha
        assert first["embedding"] is not None and first["embedding"].shape == (256,)
        image_id = int(first["source"].split()[-1])
        detector = Detector(path)
        image, sx, sy = read_image(ws.images.path(ws.images.get(image_id)), detector.imgsz)
        _, expected = field_log.observe(detector, image, (sx, sy))
        assert first["stats"] == expected["stats"] and first["detections"] == expected["detections"]
        monkeypatch.setattr(reference_mod, "_observe", lambda *a: pytest.fail("computed twice"))
        again = reference_for(ws, sha)  # kept in the workspace
        assert len(again.records) == len(ref.records) and again.names == ref.names
        with pytest.raises(NotFoundError, match="not an export of this workspace"):
            reference_for(ws, "0" * 64)
