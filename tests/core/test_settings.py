"""The typed settings file: defaults, round trip, bad values reported, recent list."""

from __future__ import annotations

from pathlib import Path

from cvops.catalog import settings as settings_mod


def test_defaults_round_trip_and_recent_list(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    s = settings_mod.load(path)
    assert s.recent_workspaces == [] and s.gallery_icon_size == 160 and not s.problems
    for i in range(15):
        s.remember(tmp_path / f"ws{i}")
    s.show_labels = False
    settings_mod.save(s, path)
    again = settings_mod.load(path)
    assert again.recent_workspaces[0] == str((tmp_path / "ws14").resolve())
    assert len(again.recent_workspaces) == settings_mod.MAX_RECENT and again.show_labels is False
    assert "problems" not in path.read_text()


def test_bad_values_fall_back_to_defaults_and_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("gallery_icon_size: huge\nshow_labels: true\nunknown: 1\nrecent_workspaces: [1, 2]\n")
    s = settings_mod.load(path)
    assert s.gallery_icon_size == 160 and s.show_labels is True and s.recent_workspaces == []
    assert len(s.problems) == 2 and any("gallery_icon_size" in p for p in s.problems)
    path.write_text("a: [unclosed\n")
    assert settings_mod.load(path).problems


def test_env_var_moves_the_file(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "cfg"))
    assert settings_mod.settings_path() == tmp_path / "cfg" / "settings.yaml"


def test_theme_is_one_of_system_light_dark(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    assert settings_mod.load(path).theme == "system"
    path.write_text("theme: dark\n")
    assert settings_mod.load(path).theme == "dark"
    path.write_text("theme: purple\n")
    s = settings_mod.load(path)
    assert s.theme == "system" and len(s.problems) == 1 and "theme = 'purple'" in s.problems[0]
