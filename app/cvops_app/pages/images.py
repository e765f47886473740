"""The Images page: the gallery over the catalog with filters, sort, live counts and bulk review actions.

Catalog queries that grow with the catalog (the ids of a filter, counts per status) run on a private job runner with
its own workspace handle (:class:`CatalogQueries`); records and thumbnails are fetched for the painted rows only
(:mod:`cvops_app.gallery`). Edits go through ``ws.annotations`` and ``ws.tags`` (the tag vocabulary, never the
classes: :mod:`cvops_app.pages.image_tags`), so Ctrl+Z undoes them; a big selection is edited in a background job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from PySide6.QtCore import (
    QItemSelection, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt, QTimer, Signal,
)
from PySide6.QtGui import QAction, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from cvops.catalog.statuses import STATUSES
from cvops.data.classes import ClassInfo
from cvops.common.errors import CvopsError
from cvops.common.jobs import CancelToken, Progress
from cvops.data.images import ImageFilter
from cvops.data.tags import TagInfo, check_tag_name
from cvops_app.context import AppContext
from cvops_app.gallery import GalleryModel, GalleryView, relocate, status_label
from cvops_app.icons import icon, set_icon
from cvops_app.pages.images_extras import EmptyOverlay, action_button, menu_button, selection_text
from cvops_app.jobs import JobManager
from cvops_app.pages import Page
from cvops_app.pages.image_tags import ImageTagMenu, TagFilterButton, ask_tag_name

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

SORTS = (("id", "Id ↑"), ("-created", "Newest first"), ("file_name", "File name"), ("status", "Status"))
SEARCH_DELAY_MS = 250
INLINE_EDIT_MAX = 1000  # bigger selections are edited in a background job
MIN_ICON, MAX_ICON = 48, 512  # bounds of settings.gallery_icon_size
HEAD_ROWS = 2000  # on a workspace's first load in id order, these rows are shown while the whole id list loads
HEAD_ORDERS = ("id", "-id")  # orders an index serves: their first rows come without reading every row

Query = Callable[["Workspace"], Any]


def images_text(count: int) -> str:
    """ "1 image", "1,234 images"."""
    return f"{count:,} image{'s' if count != 1 else ''}"


class CatalogQueries(QObject):
    """Runs catalog queries one at a time on a private job runner (one thread), each on its own workspace handle
    (``ws.reopen()``), and applies the results on the GUI thread. Requests have a kind, the job key: a new request
    supersedes the waiting or running one of the same kind, so only the latest result is applied. Results for a
    previous workspace are dropped (:meth:`reset` supersedes every query)."""

    def __init__(self, parent: QObject, on_error: Callable[[str], None]) -> None:
        super().__init__(parent)
        self.jobs = JobManager(self, threads=1)
        self.on_error = on_error
        self.source: Optional["Workspace"] = None

    def reset(self, source: Optional["Workspace"]) -> None:
        """Serve ``source`` from now on; forget the waiting and running requests. With None, wait for the running
        one to end (the workspace is closing)."""
        self.source = source
        self.jobs.supersede_all()
        if source is None:
            self.jobs.wait()

    def submit(self, kind: str, query: Query, apply: Callable[[Any], None]) -> None:
        """Run ``query(ws)`` in the background, then ``apply(result)`` on the GUI thread."""
        source = self.source
        if source is None:
            return

        def work(progress: Progress, cancel: CancelToken) -> Any:  # a worker thread
            with source.reopen() as ws:
                return query(ws)

        self.jobs.start(f"catalog query: {kind}", work, on_done=apply, on_error=self.on_error, key=kind)

    def busy(self) -> bool:
        """True while a query waits or runs."""
        return self.jobs.busy()


class ImagesPage(Page):
    """Browse, filter and sort the images of the workspace; review several at once; open one in the annotator."""

    name = "images"
    title = "Images"
    open_image = Signal(int)

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        icon_size = min(max(ctx.settings.gallery_icon_size, MIN_ICON), MAX_ICON)
        self.model = GalleryModel(self, icon_size, self.devicePixelRatioF())
        self.view = GalleryView(self.model, self)
        self.view.setObjectName("gallery")
        self.setFocusProxy(self.view)
        self.queries = CatalogQueries(self, self._query_failed)
        self.classes: list[ClassInfo] = []
        self.tags: list[TagInfo] = []
        self.by_status: Optional[dict[str, int]] = None
        self.shown_filter: Optional[ImageFilter] = None  # the filter of the rows shown; None before the first load
        self.shown_order = ""
        self._head: Optional[tuple[ImageFilter, str, Sequence[int]]] = None  # first rows shown, the rest loading
        self._stale = False
        self._selection_serial = 0

        self.status_box = self._combo("status-filter", [("All statuses", None)] +
                                      [(status_label(s), s) for s in STATUSES])
        self.class_box = self._combo("class-filter", [("Any class", None)])
        self.tag_filter = TagFilterButton(self)
        self.tag_filter.changed.connect(self.reload)
        self.tag_filter.manage_requested.connect(self.manage_tags)
        self.annotated_box = self._combo("annotated-filter",
                                         [("Annotated or not", None), ("Annotated", True), ("Not annotated", False)])
        self.sort_box = self._combo("sort", [(label, key) for key, label in SORTS])
        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search file names")
        self.search.setClearButtonEnabled(True)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(self.search_timer.start)

        self.counts = QLabel(self)
        self.counts.setObjectName("counts")
        self.open_action = QAction("Open in annotator", self)
        self.open_action.triggered.connect(lambda: self._open(self.view.currentIndex()))
        self.status_menu = QMenu("Set status", self)
        self.status_actions: dict[str, QAction] = {}
        for status in STATUSES:
            action = self.status_menu.addAction(status_label(status))
            action.triggered.connect(lambda checked=False, s=status: self.set_status(s))
            self.status_actions[status] = action
        self.tag_menu = ImageTagMenu(self)
        self.tag_menu.tag_chosen.connect(self.add_tag)
        self.tag_menu.untag_chosen.connect(self.remove_tag)
        self.tag_menu.new_requested.connect(self.new_tag)
        self.trash_action = QAction("Move to trash", self)
        self.trash_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.trash_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.trash_action.triggered.connect(self.trash)
        self.view.addAction(self.trash_action)
        self.buttons = [self._button(self.status_menu), self._button(self.tag_menu), self._button(self.trash_action)]
        for target, button, name in zip((self.status_menu, self.tag_menu, self.trash_action), self.buttons,
                                        ("status", "tag", "delete")):
            set_icon(target, name)  # in the context menu too
            set_icon(button, name)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)

        filters = QHBoxLayout()
        for label, widget in (("Status", self.status_box), ("Class", self.class_box), ("", self.tag_filter),
                              ("", self.annotated_box), ("", self.search), ("Sort", self.sort_box)):
            if label:
                filters.addWidget(QLabel(label, self))
            filters.addWidget(widget, 2 if widget is self.search else 0)
        self.selection_count = QLabel(self)
        self.selection_count.setObjectName("selection-count")
        actions = QHBoxLayout()
        actions.addWidget(self.counts, 1)
        actions.addWidget(self.selection_count)
        for button in self.buttons:
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.view, 1)

        self.view.open_requested.connect(self._open)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.modelReset.connect(self._update_actions)  # a reset drops the selection without a signal
        self.empty = EmptyOverlay(self.view)
        self.empty.clicked.connect(self._empty_action)
        ctx.image_shown.connect(self.follow)
        self._selection_changed()

    # -- widgets ------------------------------------------------------------------------------------------------------
    def _combo(self, name: str, items: list[tuple[str, Any]]) -> QComboBox:
        box = QComboBox(self)
        box.setObjectName(name)
        for text, data in items:
            box.addItem(text, data)
        box.currentIndexChanged.connect(lambda _: self.reload())
        return box

    def _button(self, what: QMenu | QAction) -> QPushButton:
        return menu_button(what, self) if isinstance(what, QMenu) else action_button(what, self)

    @staticmethod
    def _refill(box: QComboBox, items: list[tuple[str, Any]]) -> bool:
        """Replace the entries after the first ("any"), keeping the choice; True when the choice had to go."""
        current = box.currentData()
        box.blockSignals(True)
        while box.count() > 1:
            box.removeItem(1)
        for text, data in items:
            box.addItem(text, data)
        kept = next((i for i in range(box.count()) if box.itemData(i) == current), 0)
        box.setCurrentIndex(kept)
        box.blockSignals(False)
        return current is not None and kept == 0

    def _fill_classes(self) -> None:
        """The class filter from the workspace's classes."""
        self.classes = self.ws.classes.list() if self.ws is not None else []
        if self._refill(self.class_box, [(c.name, c.id) for c in self.classes]):
            self.reload()

    def _fill_tags(self) -> bool:
        """The tag filter and tag menu from the workspace's tag vocabulary; True when a ticked tag went."""
        self.tags = self.ws.tags.list() if self.ws is not None else []
        self.tag_menu.set_tags(self.tags)
        return self.tag_filter.set_tags(self.tags)

    # -- workspace and data -------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """Show the images of ``ws`` (filters start over; the sort order stays)."""
        super().set_workspace(ws)
        self.queries.reset(ws)
        self.model.set_workspace(ws)
        self.by_status = None
        self.shown_filter = None
        self._head = None
        self._stale = False
        self._reset_filters()
        self._fill_classes()
        self._fill_tags()
        self._update_counts()
        self.reload(keep=False)
        self._count()

    def refresh(self, what: set[str]) -> None:
        """Reload ids and counts (keeping the selection and scroll position); deferred while the page is hidden."""
        if self.ws is None:
            return
        if "classes" in what:
            self._fill_classes()
        if "tags" in what:
            self._fill_tags()
        if what & {"images", "annotations", "status", "classes", "tags"}:
            if self.isVisible():
                self.reload()
                self._count()
            else:
                self._stale = True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Catch up with changes made while the page was hidden."""
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.reload()
            self._count()

    def current_filter(self) -> ImageFilter:
        """The filter the widgets describe."""
        tags = self.tag_filter
        return ImageFilter(status=self.status_box.currentData(), class_id=self.class_box.currentData(),
                           annotated=self.annotated_box.currentData(), search=self.search.text().strip() or None,
                           tag_ids=tags.tag_ids() or None, tag_match=tags.match() if tags.tag_ids() else "any",
                           untagged=True if tags.untagged() else None)

    def reload(self, keep: bool = True) -> None:
        """Load the ids of the current filter and sort in the background; ``keep`` keeps the selection."""
        self.search_timer.stop()
        if self.ws is None:
            return
        flt, order = self.current_filter(), str(self.sort_box.currentData())
        old_ids = self.model.ids
        ranges = [(r.top(), r.bottom()) for r in self.view.selectionModel().selection()] if keep else []
        current = self.view.currentIndex()
        current_id = old_ids[current.row()] if keep and current.isValid() else None
        serial = self._selection_serial

        def query(ws: "Workspace") -> tuple[Sequence[int], list[tuple[int, int]], int]:
            ids = ws.images.ids(flt, order)
            row = -1
            if current_id is not None:
                try:
                    row = ids.index(current_id)
                except ValueError:
                    pass
            return ids, relocate(old_ids, ranges, ids), row

        if self.shown_filter is None and self._head is None and order in HEAD_ORDERS:
            self.queries.submit("head", lambda ws: ws.images.ids(flt, order, limit=HEAD_ROWS),
                                lambda ids: self._show_head(flt, order, ids))
        self.queries.submit("ids", query, lambda result: self._show(flt, order, serial, *result))

    def _show_head(self, flt: ImageFilter, order: str, ids: Sequence[int]) -> None:
        """Show the first rows of a workspace's first list while the whole list loads (a million ids take a while
        to read; the first screen does not need them)."""
        if self.shown_filter is not None or (self.current_filter(), str(self.sort_box.currentData())) != (flt, order):
            return  # the whole list is shown already, or the user asked for another one meanwhile
        self._head = (flt, order, ids)
        self.model.set_ids(ids)
        self.view.scrollToTop()

    def _show(self, flt: ImageFilter, order: str, serial: int, ids: Sequence[int], runs: list[tuple[int, int]],
              current_row: int) -> None:
        head, self._head = self._head, None
        if head is not None and (flt, order) == head[:2] and ids[:len(head[2])] == head[2]:
            # the whole list after its first rows: keep what the user did with those meanwhile
            runs = [(r.top(), r.bottom()) for r in self.view.selectionModel().selection()]
            current_row = self.view.currentIndex().row()
            serial = self._selection_serial
            self.shown_filter, self.shown_order = flt, order
        same = (flt, order) == (self.shown_filter, self.shown_order)  # a refresh: keep the scroll position
        keep_selection = serial == self._selection_serial  # the user did not select anything meanwhile
        scroll = self.view.verticalScrollBar().value()
        self.model.set_ids(ids)
        self.shown_filter, self.shown_order = flt, order
        selection_model = self.view.selectionModel()
        if keep_selection and runs:
            selection = QItemSelection()
            for first, last in runs:
                selection.select(self.model.index(first, 0), self.model.index(last, 0))
            selection_model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if keep_selection and current_row >= 0 and (same or runs):  # (the view scrolls to a restored current)
            selection_model.setCurrentIndex(self.model.index(current_row, 0),
                                            QItemSelectionModel.SelectionFlag.NoUpdate)
        if same:
            self.view.doItemsLayout()  # now, so that the scroll range is right
            self.view.verticalScrollBar().setValue(scroll)
        elif keep_selection and runs:  # a new filter or order: show the selection, or start at the top
            self.view.scrollTo(self.model.index(runs[0][0], 0), GalleryView.ScrollHint.PositionAtCenter)
        else:
            self.view.scrollToTop()
        self._update_counts()

    def _count(self) -> None:
        if self.ws is not None:
            self.queries.submit("counts", lambda ws: ws.images.counts_by_status(), self._show_counts)

    def _show_counts(self, result: dict[str, int]) -> None:
        self.by_status = result
        self._update_counts()

    def _update_counts(self) -> None:
        self._update_empty()
        if self.ws is None:
            self.counts.setText("")
            return
        total = sum(self.by_status.values()) if self.by_status is not None else None
        if total == 0:
            self.counts.setText("No images yet: File ▸ Import images… (Ctrl+I)")
            return
        if self.shown_filter is None:
            parts = ["loading images…"]
        elif self.shown_filter != ImageFilter() and total is not None:
            parts = [f"{images_text(len(self.model.ids))} of {total:,}"]
        else:
            parts = [images_text(len(self.model.ids))]
        parts += [f"{status_label(s)} {n:,}" for s, n in (self.by_status or {}).items() if n]
        self.counts.setText(" · ".join(parts))

    def _update_empty(self) -> None:
        """Lead out of an empty gallery: clear the filters, or import the first images."""
        if self.ws is None or self.shown_filter is None or len(self.model.ids):
            self.empty.show_message("")
        elif self.shown_filter != ImageFilter():
            self.empty.show_message("No images match these filters.", "Clear filters", "clear")
        else:
            self.empty.show_message("No images in this workspace yet.", "Import images…", "import")

    def _empty_action(self, action: str) -> None:
        if action == "clear":
            self.clear_filters()
        elif action == "import" and self.ws is not None:
            from cvops_app.dialogs.importing import ImportImagesDialog

            ImportImagesDialog(self.ctx, parent=self).open()

    def clear_filters(self) -> None:
        """Back to every image: each filter to "any", the search emptied (the sort stays)."""
        self._reset_filters()
        self.reload()

    def _reset_filters(self) -> None:
        self.tag_filter.reset()
        for box in (self.status_box, self.class_box, self.annotated_box):
            box.blockSignals(True)
            box.setCurrentIndex(0)
            box.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)

    def _query_failed(self, error: str) -> None:
        self.counts.setText(f"cannot read the catalog: {error}")
        self.ctx.notify(f"cannot read the catalog: {error}", 15_000)

    # -- API for the main window --------------------------------------------------------------------------------------
    def current_ids(self) -> Sequence[int]:
        """The ids of the current filter and sort (the annotator's previous/next order)."""
        return self.model.ids

    def selected_ids(self) -> list[int]:
        """The ids of the selected images, in row order."""
        ids = self.model.ids
        out: list[int] = []
        for top, bottom in sorted((r.top(), r.bottom()) for r in self.view.selectionModel().selection()):
            out.extend(ids[top:bottom + 1])
        return out

    def follow(self, image_id: int) -> None:
        """Make ``image_id`` the current and only selected image (the annotator moved to it), when it is listed and
        not the current one already."""
        ids, current = self.model.ids, self.view.currentIndex().row()
        row = next((r for r in (current + 1, current - 1, current) if 0 <= r < len(ids) and ids[r] == image_id), -1)
        if row < 0:
            try:
                row = ids.index(image_id)
            except ValueError:
                return
        index = self.model.index(row, 0)
        if row == current and self.view.selectionModel().isSelected(index):
            return  # opened from here: a selection of several images stays
        self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(index)

    def settled(self) -> bool:
        """True when no query, search or thumbnail is pending."""
        return not self.queries.busy() and not self.search_timer.isActive() and self.model.settled()

    # -- actions ------------------------------------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        self._selection_serial += 1
        self._update_actions()

    def _update_actions(self) -> None:
        selected = self.view.selectionModel().hasSelection()
        count = sum(r.height() for r in self.view.selectionModel().selection()) if selected else 0
        self.selection_count.setText(selection_text(count, len(self.model.ids)))
        for item, enabled in ((self.trash_action, selected), (self.status_menu.menuAction(), selected),
                              (self.tag_menu.menuAction(), selected), (self.buttons[0], selected),
                              (self.buttons[1], selected)):
            item.setEnabled(enabled)

    def _open(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_image.emit(self.model.ids[index.row()])

    def _context_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        self.open_action.setEnabled(self.view.indexAt(pos).isValid())
        menu.addAction(self.open_action)
        menu.addSeparator()
        menu.addMenu(self.status_menu)
        menu.addMenu(self.tag_menu)
        menu.addSeparator()
        menu.addAction(self.trash_action)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def set_status(self, status: str) -> None:
        """Set the review status of the selected images (one undo step)."""
        label = status_label(status)
        self._edit(f"Mark images {label}", lambda ws, ids: ws.annotations.set_status(ids, status),
                   lambda n: f"{images_text(n)} marked {label} — Ctrl+Z to undo", "status")

    def add_tag(self, tag: int | str, create: bool = False) -> None:
        """Put a tag (id, or name with ``create``) on the selected images (one undo step; images that have it
        already are left). Never a class: tags are their own vocabulary."""
        name = next((t.name for t in self.tags if t.id == tag), str(tag))
        self._edit(f"Tag images {name}", lambda ws, ids: ws.tags.tag(ids, tag, create=create),
                   lambda n: f"{images_text(n)} tagged {name} — Ctrl+Z to undo", "tags")

    def new_tag(self) -> None:
        """"New tag…": ask for a name, then create the tag and put it on the selection in one undo step."""
        name = ask_tag_name(self)
        if name is None:
            return
        try:
            check_tag_name(name)
        except CvopsError as exc:
            QMessageBox.warning(self, "New tag", str(exc))
            return
        self.add_tag(name, create=True)

    def manage_tags(self) -> None:
        """The tag filter's "Manage tags…": the tags dialog (new, rename, recolour, merge, delete)."""
        from cvops_app.dialogs.tags_dialog import open_tags_dialog

        open_tags_dialog(self.ctx, self)

    def remove_tag(self, tag: int) -> None:
        """Take a tag off the selected images (one undo step)."""
        name = next((t.name for t in self.tags if t.id == tag), str(tag))
        self._edit(f"Untag images {name}", lambda ws, ids: ws.tags.untag(ids, tag),
                   lambda n: f"{images_text(n)} untagged {name} — Ctrl+Z to undo", "tags")

    def trash(self) -> None:
        """Move the selected images to the trash (after a confirmation if the settings ask for one)."""
        count = sum(r.height() for r in self.view.selectionModel().selection())
        if not count:
            return
        if self.ctx.settings.confirm_trash and QMessageBox.question(
                self, "Move to trash", f"Move {images_text(count)} to the trash?\nCtrl+Z brings them back."
        ) != QMessageBox.StandardButton.Yes:
            return
        self._edit("Move images to the trash", lambda ws, ids: ws.annotations.trash(ids),
                   lambda n: f"{images_text(n)} moved to the trash — Ctrl+Z to undo", "images")

    def _edit(self, title: str, edit: Callable[["Workspace", list[int]], int], message: Callable[[int], str],
              kind: str) -> None:
        """Apply ``edit`` to the selection: here for a small one, in a background job for a big one."""
        ids = self.selected_ids()
        if self.ws is None or not ids:
            return

        def finish(count: int) -> None:
            self.ctx.notify(message(count))
            self.ctx.changed(kind)

        if len(ids) <= INLINE_EDIT_MAX:
            try:
                count = edit(self.ws, ids)
            except CvopsError as exc:
                QMessageBox.warning(self, title, str(exc))
                return
            finish(count)
            return
        source = self.ws

        def job(progress: Callable[[float, str], None], cancel: object) -> int:
            progress(0.0, f"{len(ids):,} images")
            with source.reopen() as ws:
                return edit(ws, ids)

        started = self.ctx.run_job(title, job, on_done=finish)
        # A core edit cannot stop halfway: when Cancel came too late, it is done and the pages must show it.
        started.signals.cancelled.connect(lambda: self.ctx.changed(kind))
