"""The acceptance run (``acceptance_testing``), once per session: ``test_training_e2e`` asserts its figures (mAP50
≥ 0.8, lineage, evaluation); ``test_deploy_e2e`` exports, bundles and deploys its model. Each works on its own copy
(``training_testing.copy_workspace``): the session's folder stays as the run left it."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"ws": folder, "version": its JSON report, "trained": the train command's JSON report, "seconds"}``; read
    only (copy the folder before writing)."""
    from acceptance_testing import run_acceptance

    return run_acceptance(tmp_path_factory.mktemp("acceptance") / "ws")
