"""The Annotate page: the canvas, the class palette, image tags, review state and the annotator's shortcuts.

Every edit is committed to the workspace the moment it is made (one operation in the log, so one undo step);
there is no Save. Keys come from :mod:`cvops_app.shortcuts` by action id.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup, QDialog, QHBoxLayout, QLabel, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from cvops.data.annotations import Annotation, AnnotationEdit
from cvops.data.classes import ClassInfo
from cvops.common.errors import NotFoundError
from cvops.data.images import ImageFilter, ImageRecord
from cvops_app.canvas.new_class import NewClassPopup, ask_first_class
from cvops_app.canvas.panels import HOTKEYS, ClassPalette, ReviewPanel, TagPanel
from cvops_app.canvas.prediction_overlay import PredictionReview, PredictionReviewer
from cvops_app.canvas.suggestions import SuggestionReview
from cvops_app.canvas.view import CanvasView
from cvops_app.context import AppContext
from cvops_app.icons import set_icon
from cvops_app.pages import Page
from cvops_app.shortcuts import SHORTCUTS, by_action

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

# Keys that only act while the canvas has the focus (elsewhere they edit text or lists).
CANVAS_ACTIONS = frozenset({"finish_polygon", "cancel_drawing", "delete", "copy", "paste", "accept_suggestion",
                            "reject_suggestion"})
# Table rows whose keys another action handles (one QAction per key): Enter accepts a selected suggestion unless a
# polygon is being drawn, Del rejects selected suggestions where it would delete manual shapes.
SHARED_KEYS = {"accept_suggestion": "finish_polygon", "reject_suggestion": "delete"}
# Table rows that describe mouse gestures, not key bindings.
GESTURES = frozenset({"zoom", "pan"})
TOOLS = (("select", "tool_select", "Select"), ("box", "tool_box", "Box"), ("polygon", "tool_polygon", "Polygon"))
# the view buttons' icons (cvops_app.icons) by action; the tools and these show only their icon (the text is in the
# tooltip with the keys), except "Next from queue"
VIEW_ICONS = {"fit": "zoom-fit", "actual_size": "actual-size", "toggle_labels": "labels", "previous_image": "previous",
              "next_image": "next", "next_in_queue": "queue"}


def _keys(action: str) -> str:
    return ", ".join(by_action(action).keys)


class AnnotatePage(Page):
    """Annotate one image at a time, moving through the gallery's current order."""

    name = "annotate"
    title = "Annotate"

    def __init__(self, ctx: AppContext, parent: Optional[QWidget] = None) -> None:
        super().__init__(ctx, parent)
        self.image: Optional[ImageRecord] = None
        self.sequence: Sequence[int] = array("q")
        self.position = -1
        self.classes: list[ClassInfo] = []
        self.current_class: Optional[int] = None
        self.clipboard: list[Annotation] = []
        self.class_popup: Optional[NewClassPopup] = None  # the last "name the first class" popup
        self.canvas = CanvasView(self)
        self.canvas.setObjectName("annotate-canvas")
        self.palette_ = ClassPalette(self)
        self.tags = TagPanel(self)
        self.review = ReviewPanel(self)
        self.suggestions = SuggestionReview(ctx, self.canvas, lambda: self.image.id if self.image else None, self)
        self.predictions = PredictionReviewer(ctx, self.canvas, self)  # a model's, opened from an evaluation
        self.info = QLabel(self)
        self.info.setObjectName("annotate-info")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build_layout()
        self.actions_by_id: dict[str, QAction] = {}
        self._bind_shortcuts()
        self.review.set_button_tips({s: f"{s.replace('_', ' ').capitalize()} ({_keys(a)})" for s, a in
                                     (("approved", "approve"), ("rejected", "reject"),
                                      ("needs_review", "needs_review"))})
        self.canvas.box_drawn.connect(self._box_drawn)
        self.canvas.polygon_drawn.connect(self._polygon_drawn)
        self.canvas.edited.connect(self._edited)
        self.canvas.view_changed.connect(self._update_info)
        self.canvas.selection_changed.connect(self._update_info)
        self.canvas.tool_changed.connect(self._tool_changed)
        self.palette_.chosen.connect(self.choose_class)
        self.palette_.done.connect(self.canvas.setFocus)
        self.palette_.add_requested.connect(self.edit_classes)
        self.tags.toggled.connect(self._tag_toggled)
        self.tags.created.connect(self._tag_created)
        self.tags.label_removed.connect(self._label_removed)
        self.review.status_chosen.connect(self.set_status)
        self.review.comment_edited.connect(self._comment_edited)
        ctx.history_applied.connect(self.canvas.select)  # undo / redo: select the shapes it brought back
        self.setFocusProxy(self.canvas)
        self._show_nothing()

    # -- layout and shortcuts -----------------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        self.tool_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for tool, action, text in TOOLS:
            button = QToolButton(self)
            button.setText(text)
            set_icon(button, tool, text=False)
            button.setCheckable(True)
            button.setToolTip(f"{by_action(action).description} ({_keys(action)})")
            button.clicked.connect(lambda _=False, t=tool: self.set_tool(t))
            group.addButton(button)
            bar.addWidget(button)
            self.tool_buttons[tool] = button
        self.tool_buttons["select"].setChecked(True)
        for text, action, slot in (("Fit", "fit", self.canvas.fit), ("1:1", "actual_size", self.canvas.actual_size),
                                   ("Labels", "toggle_labels", self.toggle_labels),
                                   ("◀", "previous_image", self.previous_image), ("▶", "next_image", self.next_image),
                                   ("Next from queue", "next_in_queue", self.next_from_queue)):
            button = QToolButton(self)
            button.setText(text)
            set_icon(button, VIEW_ICONS[action], text=action == "next_in_queue")
            button.setToolTip(f"{by_action(action).description} ({_keys(action)})")
            button.clicked.connect(slot)
            bar.addWidget(button)
        bar.addWidget(self.info, 1)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.palette_, 3)
        side_layout.addWidget(self.tags, 2)
        side_layout.addWidget(self.suggestions.panel)
        side_layout.addWidget(self.review)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        left_layout.addWidget(self.predictions.bar)
        left_layout.addWidget(self.canvas, 1)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([1000, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)

    def _handlers(self) -> dict[str, Callable[[], Any]]:
        return {
            "previous_image": self.previous_image, "next_image": self.next_image,
            "done_and_next": self.done_and_next, "next_review": self.next_review,
            "next_in_queue": self.next_from_queue,
            "tool_select": lambda: self.set_tool("select"), "tool_box": lambda: self.set_tool("box"),
            "tool_polygon": lambda: self.set_tool("polygon"), "finish_polygon": self.suggestions.enter,
            "cancel_drawing": self.cancel, "delete": self.delete, "class_picker": self.palette_.open_picker,
            "copy": self.copy, "paste": self.paste, "paste_previous": self.paste_previous,
            "toggle_labels": self.toggle_labels, "fit": self.canvas.fit, "actual_size": self.canvas.actual_size,
            "approve": lambda: self.set_status("approved"), "reject": lambda: self.set_status("rejected"),
            "needs_review": lambda: self.set_status("needs_review"),
        }

    def _bind_shortcuts(self) -> None:
        """One QAction per annotator shortcut of the table (the class keys: one per digit)."""
        handlers = self._handlers()
        for shortcut in SHORTCUTS:
            if shortcut.context != "Annotator" or shortcut.action in GESTURES or shortcut.action in SHARED_KEYS:
                continue
            if shortcut.action == "class_1_9":
                for n, key in enumerate(shortcut.keys[:HOTKEYS], start=1):
                    self._add_action(f"class_{n}", [key], lambda _=False, k=n: self.choose_class_number(k), self)
                continue
            handler = handlers[shortcut.action]
            owner = self.canvas if shortcut.action in CANVAS_ACTIONS else self
            self._add_action(shortcut.action, list(shortcut.keys), lambda _=False, h=handler: h(), owner)
        for alias, action_id in SHARED_KEYS.items():
            assert by_action(alias).keys == by_action(action_id).keys, f"{alias} must share {action_id}'s keys"
            self.actions_by_id[alias] = self.actions_by_id[action_id]

    def _add_action(self, action_id: str, keys: list[str], slot: Callable[..., Any], owner: QWidget) -> None:
        action = QAction(action_id, owner)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut if owner is self.canvas
                                  else Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        owner.addAction(action)
        self.actions_by_id[action_id] = action

    # -- workspace and image ------------------------------------------------------------------------------------------
    def set_workspace(self, ws: Optional["Workspace"]) -> None:
        """A workspace was opened or closed: forget the image."""
        super().set_workspace(ws)
        self.clipboard = []
        self.sequence, self.position = array("q"), -1
        self._load_classes()
        self._show_nothing()
        self.suggestions.update_counts(total_now=True)

    def settled(self) -> bool:
        """True when the image overview (or its failure) is shown and no tile work is pending."""
        return self.canvas.settled()

    def show_image(self, image_id: int, sequence: Sequence[int], review: Optional[PredictionReview] = None) -> None:
        """Show an image; ``sequence`` (the gallery's order) is what previous / next walk through; ``review``: the
        evaluation whose predictions are drawn over the images it lists (None: no predictions)."""
        self.predictions.open(review)
        self.sequence = array("q", sequence)
        try:
            self.position = self.sequence.index(image_id)
        except ValueError:
            self.sequence, self.position = array("q", [image_id]), 0
        self._load(image_id)

    def _go(self, position: int) -> None:
        self.position = position
        self._load(self.sequence[position])

    def _load(self, image_id: int) -> None:
        if self.ws is None:
            return
        self._flush_comment()
        try:
            self.image = self.ws.images.get(image_id)
        except NotFoundError:
            self._show_nothing(f"Image {image_id} no longer exists.")
            return
        self.canvas.set_image(self.ws.images.path(self.image), self.image.width, self.image.height)
        self._reload_shapes()
        self._show_review()
        self.predictions.show_for(image_id)
        self.ctx.image_shown.emit(image_id)

    def _show_nothing(self, message: str = "No image: open one from the Images page.") -> None:
        self.image = None
        self.predictions.clear()
        self.canvas.set_image(None, 1, 1)
        self.canvas.set_shapes([])
        self.canvas.set_message(message)
        self.review.set_state("new", "")
        self.tags.set_tags([], set())
        self._update_info()

    def _load_classes(self) -> None:
        self.classes = self.ws.classes.list() if self.ws is not None else []
        ids = [c.id for c in self.classes]
        if self.current_class not in ids:
            self.current_class = ids[0] if ids else None
        self.canvas.current_class = self.current_class
        self.canvas.set_classes(self.classes)
        self.palette_.set_classes(self.classes, self.current_class)

    def _reload_shapes(self) -> None:
        if self.ws is None or self.image is None:
            return
        annotations = self.ws.annotations.for_image(self.image.id)
        self.canvas.set_shapes(annotations)
        labels = {a.class_id for a in annotations if a.kind == "tag"}
        self.tags.set_tags(self.ws.tags.list(), {t.id for t in self.ws.tags.of_image(self.image.id)},
                           [c for c in self.classes if c.id in labels])
        self.suggestions.update_counts()
        self._update_info()

    def _show_review(self) -> None:
        if self.image is not None:
            self.review.set_state(self.image.status, self.image.comment)
        self._update_info()

    def refresh(self, what: set[str]) -> None:
        """Data changed (an edit here or elsewhere, undo, redo): reload what is shown."""
        if self.ws is None:
            return
        if "classes" in what:
            self._load_classes()
        if self.image is None:
            return
        if what & {"images", "status"}:
            try:
                self.image = self.ws.images.get(self.image.id)
            except NotFoundError:
                self._show_nothing(f"Image {self.image.id} no longer exists.")
                return
            self._show_review()
        if what & {"annotations", "classes", "tags"}:
            self._reload_shapes()

    def _update_info(self, *_: object) -> None:
        if self.image is None:
            self.info.setText("")
            return
        im = self.image
        selected = len(self.canvas.selected_ids())
        self.info.setText(f"{im.file_name}  ·  {im.width}×{im.height}  ·  {self.position + 1}/{len(self.sequence)}"
                          f"  ·  {im.status.replace('_', ' ')}" + (f"  ·  {selected} selected" if selected else "")
                          + f"  ·  {self.canvas.zoom() * 100:.0f}%")

    # -- committing ---------------------------------------------------------------------------------------------------
    def _commit(self, fn: Callable[[], Any], *what: str) -> Any:
        """Run one core edit; every page hears of it (on a failure too, after the reason is shown, so the canvas
        shows the data as it is)."""
        return self.ctx.edit(fn, *what)

    def _box_drawn(self, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        self._add_shape(lambda ws, image, cls: ws.annotations.add_box(image, cls, box), "box",
                        [QPointF(x, y), QPointF(x + w, y), QPointF(x + w, y + h), QPointF(x, y + h)])

    def _polygon_drawn(self, points: list[list[float]]) -> None:
        self._add_shape(lambda ws, image, cls: ws.annotations.add_polygon(image, cls, points), "polygon",
                        [QPointF(px, py) for px, py in points])

    def _add_shape(self, add: Callable[["Workspace", int, int], int], kind: str, outline: list[QPointF]) -> None:
        if self.ws is None or self.image is None:
            return
        if self.current_class is None:  # no class yet: name one here, the shape gets it
            image = self.image.id
            self.class_popup = ask_first_class(self.canvas, kind, outline,
                                               lambda name: self._first_class(name, image, add, kind, outline))
            return
        ws, image, cls = self.ws, self.image.id, self.current_class
        new_id = self._commit(lambda: add(ws, image, cls), "annotations")
        if new_id is not None:
            self.canvas.select([new_id])

    def _first_class(self, name: str, image: int, add: Callable[["Workspace", int, int], int], kind: str,
                     outline: list[QPointF]) -> None:
        ws = self.ws
        if ws is not None and self._commit(lambda: ws.classes.add(name), "classes") is not None:
            if self.image is not None and self.image.id == image:
                self._add_shape(add, kind, outline)

    def _edited(self, edits: list[AnnotationEdit], description: str) -> None:
        if self.ws is not None:
            ws = self.ws
            self._commit(lambda: ws.annotations.update_many(edits, description=description), "annotations")

    def _tag_toggled(self, tag_id: int, checked: bool) -> None:
        if self.ws is None or self.image is None:
            return
        ws, image = self.ws, self.image.id
        if checked:
            self._commit(lambda: ws.tags.tag([image], tag_id), "tags")
        else:
            self._commit(lambda: ws.tags.untag([image], tag_id), "tags")

    def _tag_created(self, name: str) -> None:
        """Put a tag on the image, creating it when no tag has that name (one undo step)."""
        if self.ws is not None and self.image is not None:
            ws, image = self.ws, self.image.id
            self._commit(lambda: ws.tags.tag([image], name, create=True), "tags")

    def _label_removed(self, class_id: int) -> None:
        if self.ws is not None and self.image is not None:
            ws, image = self.ws, self.image.id
            ids = [a.id for a in ws.annotations.for_image(image) if a.kind == "tag" and a.class_id == class_id]
            self._commit(lambda: ws.annotations.delete(ids), "annotations")

    def set_status(self, status: str) -> None:
        """Set the review status of the image."""
        if self.ws is not None and self.image is not None:
            ws, image = self.ws, self.image.id
            self._commit(lambda: ws.annotations.set_status([image], status), "status")

    def _comment_edited(self, text: str) -> None:
        if self.ws is not None and self.image is not None:
            ws, image = self.ws, self.image.id
            self.review.comment.setModified(False)
            if text != self.image.comment:
                self._commit(lambda: ws.annotations.set_comment(image, text), "status")

    def _flush_comment(self) -> None:
        """Commit a comment being typed before the image changes."""
        if self.review.comment.isModified():
            self._comment_edited(self.review.comment.text())

    # -- classes ------------------------------------------------------------------------------------------------------
    def choose_class(self, class_id: int) -> None:
        """Make a class current; the selected shapes take it too."""
        self.current_class = class_id
        self.canvas.current_class = class_id
        self.palette_.set_current(class_id)
        selected = self.canvas.selected_ids()
        if selected and self.ws is not None:
            ws = self.ws
            edits = [AnnotationEdit(aid, class_id=class_id) for aid in selected]
            self._commit(lambda: ws.annotations.update_many(edits, description="changed the class"), "annotations")

    def edit_classes(self) -> QDialog:
        """The Classes dialog (the empty palette's "Add classes…")."""
        from cvops_app.dialogs.classes import ClassesDialog

        dialog = ClassesDialog(self.ctx, parent=self)
        dialog.open()
        return dialog

    def choose_class_number(self, n: int) -> None:
        """Class ``n`` (1-based) of the palette."""
        if n <= len(self.classes):
            self.choose_class(self.classes[n - 1].id)

    # -- tools and editing --------------------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        """Switch the canvas tool."""
        self.canvas.set_tool(name)

    def _tool_changed(self, name: str) -> None:
        self.tool_buttons[name].setChecked(True)

    def toggle_labels(self) -> None:
        """Show or hide the shape labels (H)."""
        self.canvas.set_labels(not self.canvas.labels_visible)

    def cancel(self) -> None:
        """Esc: drop the shape being drawn, else clear the selection."""
        if not self.canvas.tool.cancel():
            self.canvas.select([])

    def delete(self) -> None:
        """Del: remove the last point drawn, else the targeted polygon vertex, else reject the selected suggestions
        (when only suggestions are selected), else delete the selected shapes."""
        if self.canvas.tool.drawing():
            self.canvas.tool.remove_last()
        elif not self.canvas.delete_vertex() and not self.suggestions.reject_selected():
            ids = self.canvas.selected_ids()
            if ids and self.ws is not None:
                ws = self.ws
                self._commit(lambda: ws.annotations.delete(ids), "annotations")

    def copy(self) -> None:
        """Copy the selected shapes."""
        model = self.canvas.model()
        shapes = [s for s in (model.get(i) for i in self.canvas.selected_ids()) if s is not None]
        if shapes:
            self.clipboard = shapes
            self.ctx.notify(f"copied {len(shapes)} shape{'s' if len(shapes) != 1 else ''}")

    def paste(self) -> None:
        """Paste the copied shapes onto this image."""
        self._paste(self.clipboard, "")

    def paste_previous(self) -> None:
        """Paste every shape of the previous image in the sequence."""
        if self.ws is None or self.position <= 0:
            self.ctx.notify("no previous image")
            return
        shapes = [a for a in self.ws.annotations.for_image(self.sequence[self.position - 1]) if a.kind != "tag"]
        self._paste(shapes, "pasted the previous image's shapes")

    def _paste(self, shapes: list[Annotation], description: str) -> None:
        if self.ws is None or self.image is None or not shapes:
            return
        ws, image = self.ws, self.image.id
        ids = self._commit(lambda: ws.annotations.paste(image, shapes, description=description), "annotations")
        if ids:
            self.canvas.select(ids)

    # -- navigation ---------------------------------------------------------------------------------------------------
    def previous_image(self) -> None:
        """The previous image of the sequence (A)."""
        if self.image is not None and self.position > 0:
            self._go(self.position - 1)
        else:
            self.ctx.notify("first image")

    def next_image(self) -> bool:
        """The next image of the sequence (D); False at the end."""
        if self.image is not None and self.position + 1 < len(self.sequence):
            self._go(self.position + 1)
            return True
        self.ctx.notify("last image")
        return False

    def done_and_next(self) -> None:
        """Mark the image done and go to the next one (Ctrl+Enter)."""
        if self.image is not None:
            self.set_status("done")
            self.next_image()

    def next_review(self) -> None:
        """The next image that needs review (R): after this one in the sequence, else in id order across the
        workspace (which then becomes the sequence)."""
        if self.ws is None:
            return
        waiting = self.ws.images.ids(ImageFilter(status="needs_review"))
        current = self.image.id if self.image is not None else 0
        pending = set(waiting) - {current}
        if not pending:
            self.ctx.notify("no image needs review")
            return
        n = len(self.sequence)
        for step in range(1, n + 1):
            position = (self.position + step) % n
            if self.sequence[position] in pending:
                self._go(position)
                return
        at = bisect_right(waiting, current) % len(waiting)
        self.sequence, self.position = waiting, at
        self._load(waiting[at])

    def next_from_queue(self) -> None:
        """The next image of the labeling queue not labelled yet (Q), in rank order after this one, wrapping; the
        queue becomes the sequence that previous / next walk. Says so when the queue is empty or done."""
        if self.ws is None:
            return
        from cvops.monitoring.queue import next_in_queue, queue_progress, show_queue

        current = self.image.id if self.image is not None else None
        target = next_in_queue(self.ws, current)
        labelled, total = queue_progress(self.ws)
        if target is None:
            self.ctx.notify(f"Queue done: {labelled} of {total} labelled — build a new one with cvops queue build"
                            if total else "The labeling queue is empty — build one with cvops queue build")
            return
        left = total - labelled
        if target == current:
            self.ctx.notify("This is the last image of the queue still to label")
            return
        self.show_image(target, [item.image_id for item in show_queue(self.ws)])
        self.ctx.notify(f"Queue: {labelled} of {total} labelled, {left} to go")
