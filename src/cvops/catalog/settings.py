"""User settings: a typed, human-editable YAML file (``~/.config/cvops/settings.yaml``, or ``$CVOPS_CONFIG_DIR``).

The GUI keeps only window geometry in QSettings; everything a user may want to read or edit lives here. Unknown keys
are kept out, wrong types fall back to the default (and are reported), and the file is replaced atomically.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from cvops.catalog.store import atomic_write_bytes

MAX_RECENT = 10
THEMES = ("system", "light", "dark")  # the GUI's look: follow the system, or always light or dark


@dataclass
class Settings:
    """Everything the workbench remembers between sessions (apart from window geometry)."""

    recent_workspaces: list[str] = field(default_factory=list)
    gallery_icon_size: int = 160
    show_labels: bool = True
    confirm_trash: bool = True
    weights_folder: Optional[str] = None
    theme: str = "system"
    problems: list[str] = field(default_factory=list, metadata={"transient": True})

    def remember(self, workspace: Path) -> None:
        """Put a workspace at the top of the recent list."""
        path = str(Path(workspace).resolve())
        self.recent_workspaces = [path] + [p for p in self.recent_workspaces if p != path][: MAX_RECENT - 1]


def settings_path() -> Path:
    """Where the settings file lives."""
    base = os.environ.get("CVOPS_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".config", "cvops")
    return Path(base) / "settings.yaml"


def load(path: Optional[Path] = None) -> Settings:
    """Read the settings file; a missing file gives the defaults, a broken one the defaults plus ``problems``."""
    path = path or settings_path()
    settings = Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return settings
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: not UTF-8
        settings.problems.append(f"{path}: cannot read settings ({exc}); using defaults")
        return settings
    except RecursionError:
        settings.problems.append(f"{path}: settings nested too deeply to read; using defaults")
        return settings
    if not isinstance(data, dict):
        settings.problems.append(f"{path}: settings must be a mapping; using defaults")
        return settings
    for f in dataclasses.fields(Settings):
        if f.metadata.get("transient") or f.name not in data:
            continue
        value: Any = data[f.name]
        default = getattr(settings, f.name)
        expected = type(default) if default is not None else str
        if value is None and default is None:
            continue
        if expected is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(settings, f.name, value[:MAX_RECENT])
        elif expected is not list and isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
            setattr(settings, f.name, value)
        else:
            settings.problems.append(f"{path}: {f.name} = {value!r} is not of type {expected.__name__}; using the default")
    if settings.theme not in THEMES:
        settings.problems.append(f"{path}: theme = {settings.theme!r} is not one of {', '.join(THEMES)}; using system")
        settings.theme = "system"
    return settings


def save(settings: Settings, path: Optional[Path] = None) -> Path:
    """Write the settings file atomically; return its path."""
    path = path or settings_path()
    data = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings) if not f.metadata.get("transient")}
    text = "# CVOps Workbench settings (edit freely; unknown keys are ignored)\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
