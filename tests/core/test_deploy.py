"""Deployment of edge bundles: to a folder (atomic replace, selftest, deployments rows, refusals) and over SSH to a
real OpenSSH server on 127.0.0.1 (unknown, accepted and changed host keys, authentication, unreachable ports)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from training_testing import copy_workspace

from ssh_testing import Sshd, free_port

from cvops.deploy.bundle import make_bundle
from cvops.deploy.deploy import DeployError, SshTarget, deploy_bundle
from cvops.common.errors import ValidationError
from cvops.catalog.store import sha256_file
from cvops.data.workspace import Workspace


@pytest.fixture(scope="module")
def built(exported_workspace: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The session's exported workspace (read only) and a bundle of its export."""
    root, export_id = exported_workspace
    out = tmp_path_factory.mktemp("deploy-bundles") / "edge"
    ws = Workspace.open(root)
    try:
        make_bundle(ws, export_id, out)
    finally:
        ws.close()
    return {"root": root, "export_id": export_id, "dir": out}


@pytest.fixture
def wsd(built: dict[str, Any], tmp_path: Path) -> Iterator[Workspace]:
    """This test's copy of the exported workspace (deployments write rows)."""
    ws = Workspace.open(copy_workspace(built["root"], tmp_path / "wsd"))
    yield ws
    ws.close()


def rows(ws: Workspace) -> list[tuple]:
    return ws.db.execute("SELECT id, export_id, bundle, target, ok, report FROM deployments ORDER BY id").fetchall()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def test_deploy_to_a_folder_then_replace_atomically(built: dict[str, Any], wsd: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "edge-device"
    before = len(rows(wsd))
    report = deploy_bundle(wsd, built["dir"], str(target))
    assert report.ok and report.deployed_to == str(target / "edge")
    assert report.selftest["ok"] is True and report.selftest["bundle"] == str(target / "edge")
    assert sorted(report.files) == sorted(p.name for p in built["dir"].iterdir())
    for name in report.files:
        assert sha256_file(target / "edge" / name) == sha256_file(built["dir"] / name)
    new = rows(wsd)[before:]
    assert len(new) == 1 and new[0][1] == built["export_id"] and new[0][3] == str(target) and new[0][4] == 1
    recorded = json.loads(new[0][5])
    assert set(recorded) >= {"bundle", "target", "ok", "selftest", "files", "seconds"}
    marker = target / "edge" / "old-deployment-marker"
    marker.write_text("x")
    again = deploy_bundle(wsd, built["dir"], str(target))
    assert again.ok and not marker.exists() and (target / "edge" / "model.onnx").is_file()
    assert leftovers(target) == [] and [p.name for p in target.iterdir()] == ["edge"]
    assert len(rows(wsd)) == before + 2


def test_deploy_without_a_workspace_and_from_a_zip(built: dict[str, Any], tmp_path: Path) -> None:
    archive = Path(shutil.make_archive(str(tmp_path / "edge"), "zip", built["dir"].parent, "edge"))
    report = deploy_bundle(None, archive, str(tmp_path / "target"))
    assert report.ok and (tmp_path / "target" / "edge" / "run.py").is_file()


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_a_bad_bundle_is_refused_and_nothing_is_copied(built: dict[str, Any], wsd: Workspace, tmp_path: Path,
                                                        damage: str) -> None:
    bundle = tmp_path / "edge"
    shutil.copytree(built["dir"], bundle)
    if damage == "missing":
        (bundle / "sample.jpg").unlink()
        match = "sample.jpg is missing"
    else:
        (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes()[:-10])
        match = "model.onnx: sha256 mismatch"
    before = len(rows(wsd))
    with pytest.raises(ValidationError, match=match):
        deploy_bundle(wsd, bundle, str(tmp_path / "target"))
    assert not (tmp_path / "target").exists() and len(rows(wsd)) == before


@pytest.mark.parametrize("checksum", ["abc", 42, None, "g" * 64])
def test_a_malformed_checksum_is_refused_by_name(built: dict[str, Any], tmp_path: Path, checksum: Any) -> None:
    from cvops.cli import cli

    bundle = tmp_path / "edge"
    shutil.copytree(built["dir"], bundle)
    meta = json.loads((bundle / "model.json").read_text())
    meta["files"]["model.onnx"] = checksum
    (bundle / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValidationError, match=r'model\.json is corrupt .*files\["model\.onnx"\] is .*not a sha256'):
        deploy_bundle(None, bundle, str(tmp_path / "target"))
    result = CliRunner().invoke(cli, ["deploy", str(bundle), "--to", str(tmp_path / "target"), "-w", str(tmp_path),
                                      "--json"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "validation" and 'files["model.onnx"]' in error["message"]
    assert str(bundle / "model.json") in error["message"] and not (tmp_path / "target").exists()
    text = CliRunner().invoke(cli, ["deploy", str(bundle), "--to", str(tmp_path / "target"), "-w", str(tmp_path)])
    assert text.exit_code == 2 and 'files["model.onnx"]' in text.stderr


def test_a_failing_selftest_deploys_nothing_and_keeps_the_old_deployment(built: dict[str, Any], wsd: Workspace,
                                                                          tmp_path: Path) -> None:
    target = tmp_path / "target"
    assert deploy_bundle(None, built["dir"], str(target)).ok
    old_model_json = (target / "edge" / "model.json").read_bytes()
    bundle = tmp_path / "edge"
    shutil.copytree(built["dir"], bundle)
    expected = json.loads((bundle / "sample_expected.json").read_text())
    expected["detections"][0]["box"][0] += 25  # consistent checksums, wrong expectation
    (bundle / "sample_expected.json").write_text(json.dumps(expected))
    meta = json.loads((bundle / "model.json").read_text())
    meta["files"]["sample_expected.json"] = sha256_file(bundle / "sample_expected.json")
    (bundle / "model.json").write_text(json.dumps(meta))
    before = len(rows(wsd))
    report = deploy_bundle(wsd, bundle, str(target))
    assert not report.ok and "selftest failed" in (report.error or "") and "not detected" in report.error
    assert (target / "edge" / "model.json").read_bytes() == old_model_json and leftovers(target) == []
    assert rows(wsd)[before:][0][4] == 0


def test_cli_deploy(built: dict[str, Any], tmp_path: Path) -> None:
    from cvops.cli import cli

    root = copy_workspace(built["root"], tmp_path / "ws")
    result = CliRunner().invoke(cli, ["-w", str(root), "deploy", str(built["dir"]), "--to",
                                      str(tmp_path / "t"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and set(data) >= {"bundle", "target", "ok", "selftest", "files", "seconds"}
    result = CliRunner().invoke(cli, ["deploy", str(tmp_path / "t" / "edge" / "run.py"), "--to", str(tmp_path / "u"),
                                      "-w", str(tmp_path)])
    assert result.exit_code == 2 and "no bundle folder" in result.output


def test_ssh_target_parsing() -> None:
    t = SshTarget.parse("ssh://pi@edge-7:2222/opt/models")
    assert (t.user, t.host, t.port, t.path, t.destination) == ("pi", "edge-7", 2222, "/opt/models", "pi@edge-7")
    assert SshTarget.parse("ssh://edge/~/models").path == "models"
    with pytest.raises(ValidationError):
        SshTarget.parse("ssh://edge")


# -- SSH against a real OpenSSH server (the ``sshd`` fixture of tests/conftest.py) ----------------------------------


def test_ssh_deploy_host_keys_unknown_accepted_changed(built: dict[str, Any], wsd: Workspace, sshd: Sshd,
                                                       tmp_path: Path) -> None:
    remote = tmp_path / "remote" / "models"
    kw = {"identity": sshd.client_key, "known_hosts": sshd.known_hosts, "remote_python": sys.executable}
    with pytest.raises(DeployError, match="host key of 127.0.0.1:.* is not known.*--accept-new-host-key"):
        deploy_bundle(wsd, built["dir"], sshd.url(remote), **kw)
    assert not remote.exists()
    before = len(rows(wsd))
    report = deploy_bundle(wsd, built["dir"], sshd.url(remote), accept_new_host_key=True, **kw)
    assert report.ok, report.error
    assert report.selftest["ok"] is True and report.selftest["files_checked"] == 10
    assert report.selftest["bundle"] == str(remote / "edge")
    assert report.deployed_to == sshd.url(remote / "edge")
    for name in report.files:
        assert sha256_file(remote / "edge" / name) == sha256_file(built["dir"] / name)
    assert leftovers(remote) == [] and sshd.known_hosts.read_text().strip()
    row = rows(wsd)[before]
    assert row[3] == sshd.url(remote) and row[4] == 1
    # redeploy over the existing one, known host now
    marker = remote / "edge" / "marker"
    marker.write_text("x")
    assert deploy_bundle(None, built["dir"], sshd.url(remote), **kw).ok and not marker.exists()
    marker.write_text("x")
    # the server's host key changes: refused, even with --accept-new-host-key, and nothing changes on the target
    sshd.stop()
    sshd.new_host_key()
    sshd.start()
    for accept in (False, True):
        with pytest.raises(DeployError, match="host key changed for 127.0.0.1"):
            deploy_bundle(wsd, built["dir"], sshd.url(remote), accept_new_host_key=accept, **kw)
    assert marker.exists() and leftovers(remote) == [] and rows(wsd)[-1][4] == 0


def test_ssh_failing_remote_selftest_leaves_nothing(built: dict[str, Any], sshd: Sshd, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    report = deploy_bundle(None, built["dir"], sshd.url(remote), identity=sshd.client_key,
                           known_hosts=sshd.known_hosts, accept_new_host_key=True,
                           remote_python="/nonexistent/python3")
    assert not report.ok and "selftest failed" in (report.error or "")
    assert remote.is_dir() and list(remote.iterdir()) == []


def test_ssh_wrong_key_and_unreachable_port(built: dict[str, Any], sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(DeployError, match="authentication .* failed.*never a password"):
        deploy_bundle(None, built["dir"], sshd.url(tmp_path / "r"), identity=other, known_hosts=sshd.known_hosts,
                      accept_new_host_key=True)
    port = free_port()
    started = time.monotonic()
    with pytest.raises(DeployError, match=f"cannot reach 127.0.0.1:{port}"):
        deploy_bundle(None, built["dir"], f"ssh://127.0.0.1:{port}/tmp/x", identity=sshd.client_key,
                      known_hosts=sshd.known_hosts, accept_new_host_key=True)
    assert time.monotonic() - started < 15
    assert not (tmp_path / "r").exists()
