"""Dialogs of the workbench: import, export, classes, shortcuts."""
