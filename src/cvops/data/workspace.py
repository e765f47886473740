"""A workspace is a folder: the SQLite catalog, the content-addressed image store and the thumbnail cache.

Layout::

    WORKSPACE/
      cvops.db        catalog (WAL): images, classes, annotations, operation log, ...
      store/aa/bb/    image blobs named by sha256 (copy mode)
      thumbs.db       thumbnail cache (256 px JPEG blobs keyed by sha256)
      tmp/            staging area for atomic writes (cleared by ``cvops gc``)
      backups/        catalog copies taken before a schema migration
"""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from cvops.catalog import db as catalog, migrations
from cvops.catalog.db import Database
from cvops.common.errors import NewerSchemaError, NoWorkspaceError, WorkspaceError
from cvops.catalog.store import ImageStore

if TYPE_CHECKING:
    from cvops.data.annotations import AnnotationEditor
    from cvops.data.classes import ClassManager
    from cvops.data.images import ImageQueries
    from cvops.data.tags import TagManager
    from cvops.catalog.oplog import OperationLog
    from cvops.data.thumbnails import ThumbnailCache

CATALOG_NAME = "cvops.db"

PathLike = Union[str, Path]


class Workspace:
    """An open workspace. Create with :meth:`create`, open with :meth:`open`; close with :meth:`close`.

    One ``Workspace`` object holds one SQLite connection: worker threads open their own with :meth:`reopen`.
    """

    def __init__(self, root: Path, db: Database, migrated_from: Optional[int] = None) -> None:
        self.root = root
        self.db = db
        self.migrated_from = migrated_from
        self.store = ImageStore(root / "store", root / "tmp")

    # -- lifecycle ----------------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: PathLike) -> "Workspace":
        """Create a new workspace in ``path`` (an empty or missing folder)."""
        root = Path(path).expanduser().resolve()
        if (root / CATALOG_NAME).exists():
            raise WorkspaceError(f"{root} already holds a workspace; open it instead")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder")
        for sub in ("", "store", "tmp", "backups"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        db = catalog.connect(root / CATALOG_NAME)
        migrations.migrate(db)
        return cls(root, db)

    @classmethod
    def open(cls, path: PathLike, migrate: bool = True) -> "Workspace":
        """Open an existing workspace. An older catalog is backed up to ``backups/`` and migrated."""
        root = Path(path).expanduser().resolve()
        db_path = root / CATALOG_NAME
        if not db_path.is_file():
            raise NoWorkspaceError(f"{root} is not a CVOps workspace (no {CATALOG_NAME}); create one with `cvops init`")
        db = catalog.connect(db_path)
        version = migrations.schema_version(db)
        migrated_from = None
        if version > migrations.SCHEMA_VERSION:
            db.conn.close()
            raise NewerSchemaError(
                f"{db_path}: catalog schema version {version} is newer than this CVOps Workbench supports "
                f"({migrations.SCHEMA_VERSION}); upgrade CVOps Workbench to open this workspace"
            )
        if version < migrations.SCHEMA_VERSION and migrate:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            migrations.backup(db, root / "backups" / f"cvops-schema{version}-{stamp}.db")
            migrations.migrate(db)
            migrated_from = version
        return cls(root, db, migrated_from)

    def reopen(self) -> "Workspace":
        """A second handle on the same workspace with its own connection (for another thread)."""
        return Workspace.open(self.root)

    def close(self) -> None:
        """Close the catalog connection (and the thumbnail cache if it was opened)."""
        if "thumbnails" in self.__dict__:
            self.thumbnails.close()
        self.db.conn.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- parts --------------------------------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        """Path of the SQLite catalog."""
        return self.root / CATALOG_NAME

    @cached_property
    def log(self) -> "OperationLog":
        """The operation log: undo, redo and the audit trail."""
        from cvops.catalog.oplog import OperationLog

        return OperationLog(self.db)

    @cached_property
    def classes(self) -> "ClassManager":
        """The label schema."""
        from cvops.data.classes import ClassManager

        return ClassManager(self.db, self.log)

    @cached_property
    def annotations(self) -> "AnnotationEditor":
        """The annotation edit API."""
        from cvops.data.annotations import AnnotationEditor

        return AnnotationEditor(self.db, self.log)

    @cached_property
    def tags(self) -> "TagManager":
        """The image tag vocabulary and which images carry which tags."""
        from cvops.data.tags import TagManager

        return TagManager(self.db, self.log)

    @cached_property
    def images(self) -> "ImageQueries":
        """Image queries: filters, pages, counts."""
        from cvops.data.images import ImageQueries

        return ImageQueries(self)

    @cached_property
    def thumbnails(self) -> "ThumbnailCache":
        """The thumbnail cache."""
        from cvops.data.thumbnails import ThumbnailCache

        return ThumbnailCache(self)

    def stats(self) -> dict:
        """Counts of images (trashed ones apart), annotations and classes, images per status, pending model
        suggestions and image tags. ``annotations``, ``by_kind`` and ``annotated_images`` count manual annotations
        only (what a version freezes); the model's pending suggestions are ``suggestions`` (``suggestions_by_kind``)."""
        q = self.db.execute
        by_status = self.images.counts_by_status()
        kinds = {k: 0 for k in catalog.ANNOTATION_KINDS}
        suggested = {k: 0 for k in catalog.ANNOTATION_KINDS}
        live = "image_id NOT IN (SELECT id FROM images WHERE trashed_at IS NOT NULL)"
        for kind, manual, model in q(f"SELECT kind, SUM(source = 'manual'), SUM(source != 'manual') FROM annotations "
                                     f"WHERE {live} GROUP BY kind"):
            kinds[kind], suggested[kind] = manual, model
        distinct = f"SELECT COUNT(DISTINCT image_id) FROM annotations WHERE {live} AND source"
        annotated = q(f"{distinct} = 'manual'").fetchone()[0]
        with_suggestions = q(f"{distinct} != 'manual'").fetchone()[0]
        tagged = q("SELECT COUNT(DISTINCT l.image_id) FROM image_tags l JOIN images i ON i.id = l.image_id "
                   "WHERE i.trashed_at IS NULL").fetchone()[0]
        return {
            "images": sum(by_status.values()),
            "annotations": sum(kinds.values()),
            "classes": q("SELECT COUNT(*) FROM classes").fetchone()[0],
            "videos": q("SELECT COUNT(*) FROM videos").fetchone()[0],
            "trashed": q("SELECT COUNT(*) FROM images WHERE trashed_at IS NOT NULL").fetchone()[0],
            "annotated_images": annotated,
            "by_status": by_status,
            "by_kind": kinds,
            "suggestions": sum(suggested.values()),
            "suggestions_by_kind": suggested,
            "images_with_suggestions": with_suggestions,
            "tags": q("SELECT COUNT(*) FROM tags").fetchone()[0],
            "tagged_images": tagged,
        }
