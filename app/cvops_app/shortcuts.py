"""Every keyboard shortcut of the workbench, in one table: the annotator binds from it, the F1 sheet and the
annotator's guide show it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    """One shortcut: a stable action id, the key sequence(s) (Qt portable text), where it works, what it does."""

    action: str
    keys: tuple[str, ...]
    context: str
    description: str


SHORTCUTS: tuple[Shortcut, ...] = (
    # Anywhere
    Shortcut("open_images_page", ("Ctrl+1",), "Anywhere", "Images page"),
    Shortcut("open_annotate_page", ("Ctrl+2",), "Anywhere", "Annotate page"),
    Shortcut("open_versions_page", ("Ctrl+3",), "Anywhere", "Versions page"),
    Shortcut("open_train_page", ("Ctrl+4",), "Anywhere", "Train page"),
    Shortcut("open_tune_page", ("Ctrl+5",), "Anywhere", "Tune page: hyperparameter tuning studies"),
    Shortcut("open_models_page", ("Ctrl+6",), "Anywhere", "Models page"),
    Shortcut("open_automation_page", ("Ctrl+7",), "Anywhere", "Automation page"),
    Shortcut("open_monitor_page", ("Ctrl+8",), "Anywhere", "Monitor page: field devices, drift, captured images"),
    Shortcut("undo", ("Ctrl+Z",), "Anywhere", "Undo (unlimited; survives restarts)"),
    Shortcut("redo", ("Ctrl+Shift+Z",), "Anywhere", "Redo"),
    Shortcut("import_images", ("Ctrl+I",), "Anywhere", "Import images…"),
    Shortcut("import_dataset", ("Ctrl+Shift+I",), "Anywhere", "Import dataset…"),
    Shortcut("export_dataset", ("Ctrl+E",), "Anywhere", "Export dataset…"),
    Shortcut("classes", ("Ctrl+K",), "Anywhere", "Classes dialog"),
    Shortcut("new_workspace", ("Ctrl+N",), "Anywhere", "New workspace…"),
    Shortcut("open_workspace", ("Ctrl+O",), "Anywhere", "Open workspace…"),
    Shortcut("quit", ("Ctrl+Q",), "Anywhere", "Quit"),
    Shortcut("help", ("F1",), "Anywhere", "This shortcut sheet"),
    # Images page
    Shortcut("gallery_open", ("Return",), "Images page", "Open the current image in the annotator (or double-click)"),
    Shortcut("gallery_trash", ("Del",), "Images page", "Move the selected images to the trash (Ctrl+Z restores)"),
    Shortcut("gallery_select_all", ("Ctrl+A",), "Images page", "Select every image of the current filter"),
    # Annotator: navigation
    Shortcut("previous_image", ("A",), "Annotator", "Previous image (within the gallery's filter)"),
    Shortcut("next_image", ("D",), "Annotator", "Next image (within the gallery's filter)"),
    Shortcut("done_and_next", ("Ctrl+Return",), "Annotator", "Mark done and go to the next image"),
    Shortcut("next_review", ("R",), "Annotator", "Next image that needs review"),
    Shortcut("next_in_queue", ("Q",), "Annotator",
             "Next image from the labeling queue not labelled yet (cvops queue build)"),
    # Annotator: tools
    Shortcut("tool_select", ("V",), "Annotator", "Select / move / resize tool"),
    Shortcut("tool_box", ("W",), "Annotator", "Box tool (drag)"),
    Shortcut("tool_polygon", ("P",), "Annotator", "Polygon tool (click vertices; Enter or double-click closes)"),
    Shortcut("finish_polygon", ("Return",), "Annotator", "Close the polygon being drawn"),
    Shortcut("cancel_drawing", ("Escape",), "Annotator", "Cancel the shape being drawn / clear the selection"),
    Shortcut("delete", ("Del", "Backspace"), "Annotator", "Delete the selected shapes (or the hovered vertex)"),
    Shortcut("accept_suggestion", ("Return",), "Annotator",
             "Accept the selected model suggestions (dashed) and select the next one"),
    Shortcut("reject_suggestion", ("Del", "Backspace"), "Annotator",
             "Reject the selected model suggestions and select the next one"),
    Shortcut("class_1_9", ("1", "2", "3", "4", "5", "6", "7", "8", "9"), "Annotator",
             "Pick class 1–9 (applies to the selected shapes too)"),
    Shortcut("class_picker", ("C",), "Annotator", "Searchable class picker"),
    Shortcut("copy", ("Ctrl+C",), "Annotator", "Copy the selected shapes"),
    Shortcut("paste", ("Ctrl+V",), "Annotator", "Paste shapes"),
    Shortcut("paste_previous", ("Ctrl+Shift+V",), "Annotator", "Paste every shape of the previous image"),
    Shortcut("toggle_labels", ("H",), "Annotator", "Show / hide labels"),
    # Annotator: view
    Shortcut("fit", ("F",), "Annotator", "Fit the image to the window"),
    Shortcut("actual_size", ("Ctrl+0",), "Annotator", "Zoom to 1:1"),
    Shortcut("zoom", ("Wheel",), "Annotator", "Zoom around the pointer"),
    Shortcut("pan", ("Space+drag", "Middle-drag"), "Annotator", "Pan"),
    # Review
    Shortcut("approve", ("Ctrl+Shift+A",), "Annotator", "Approve the image (status approved)"),
    Shortcut("reject", ("Ctrl+Shift+R",), "Annotator", "Reject the image (status rejected)"),
    Shortcut("needs_review", ("Ctrl+Shift+N",), "Annotator", "Mark the image as needing review"),
)


def by_action(action: str) -> Shortcut:
    """The shortcut for an action id."""
    for shortcut in SHORTCUTS:
        if shortcut.action == action:
            return shortcut
    raise KeyError(action)
