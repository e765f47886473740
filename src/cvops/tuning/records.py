"""Where studies are kept: Optuna's RDB storage on ``WORKSPACE/tuning/studies.db`` (SQLite, beside the catalog), and
each study's row in the catalog's ``tuning_studies`` (version, metric, direction, state, settings, summary, best
model)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

from cvops.common.errors import NotFoundError

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from cvops.data.workspace import Workspace

STORAGE = "tuning/studies.db"
STORAGE_LOCK = "tuning-storage.lock"


def storage_path(ws: "Workspace") -> "Path":
    """The SQLite file of the workspace's Optuna storage."""
    return ws.root / STORAGE


def storage(ws: "Workspace") -> "optuna.storages.RDBStorage":
    """Optuna's RDB storage on :func:`storage_path` (created on first use).

    Opening it creates Optuna's tables and stamps their schema version when they are missing, and two openers at
    once (the study's process and a page or ``cvops tune show`` polling it) both try, and one fails with "table
    alembic_version already exists"; so openers take turns on a lock file."""
    import optuna

    from cvops.catalog.locks import workspace_lock

    path = storage_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by the study itself
    with workspace_lock(ws.root, exclusive=True, name=STORAGE_LOCK):
        return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}})


def study_row(ws: "Workspace", name: str) -> Optional[dict[str, Any]]:
    """The catalog row of study ``name`` (settings and summary parsed), or None."""
    row = ws.db.execute("SELECT s.id, s.name, s.version_id, v.name, s.metric, s.direction, s.state, s.settings, "
                        "s.summary, s.created_at, s.updated_at, m.name FROM tuning_studies s "
                        "JOIN versions v ON v.id = s.version_id LEFT JOIN models m ON m.id = s.best_model_id "
                        "WHERE s.name = ?", [name]).fetchone()
    if row is None:
        return None
    keys = ("id", "name", "version_id", "version", "metric", "direction", "state", "settings", "summary",
            "created_at", "updated_at", "best_model")
    out = dict(zip(keys, row))
    out["settings"], out["summary"] = json.loads(out["settings"]), json.loads(out["summary"])
    return out


def require_study(ws: "Workspace", name: str) -> dict[str, Any]:
    """:func:`study_row`, or :class:`NotFoundError` naming the studies there are."""
    row = study_row(ws, name)
    if row is None:
        names = [r[0] for r in ws.db.execute("SELECT name FROM tuning_studies ORDER BY id")]
        raise NotFoundError(f"no tuning study {name!r} (studies: {', '.join(names) or 'none yet; cvops tune'})")
    return row


def lock_name(name: str) -> str:
    """The lock file (in ``WORKSPACE/locks``) that the process running study ``name`` holds."""
    return f"tune-{name}.lock"


def live_state(ws: "Workspace", name: str, state: str) -> str:
    """``state`` as recorded, except that a study recorded ``running`` whose lock nobody holds (its process was
    killed or crashed) is ``interrupted``."""
    from cvops.catalog.locks import WorkspaceBusy, workspace_lock

    if state != "running":
        return state
    try:
        with workspace_lock(ws.root, exclusive=True, wait=False, name=lock_name(name)):
            return "interrupted"
    except WorkspaceBusy:
        return state
