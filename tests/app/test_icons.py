"""Icons: every action's icon exists in the bundled Material Design Icons font, is drawn at the device pixel ratio
asked for (sharp on high-DPI screens) and in the palette's colours (light on dark, dark on light); the application
icon is a vector drawing shipped with the package."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPalette

from cvops_app.icons import ICONS, code_point, glyphs, icon
from cvops_app.theme import APP_ICON, app_icon, dark_palette


def _ink(image: QImage) -> tuple[int, int]:
    """(pixels drawn, mean lightness of the drawn pixels)."""
    drawn = [image.pixelColor(x, y) for y in range(image.height()) for x in range(image.width())
             if image.pixelColor(x, y).alpha() > 200]
    return len(drawn), sum(c.lightness() for c in drawn) // max(len(drawn), 1)


def _difference(a: QImage, b: QImage) -> int:
    """Sum of the alpha differences of two images of the same size."""
    return sum(abs(a.pixelColor(x, y).alpha() - b.pixelColor(x, y).alpha())
               for y in range(a.height()) for x in range(a.width()))


def test_every_icon_name_is_in_the_font(qapp) -> None:  # noqa: ANN001
    family, codes = glyphs()
    assert family == "Material Design Icons" and len(codes) > 5000
    missing = [name for name, qta in ICONS.items() if not qta.startswith("mdi6.") or qta[5:] not in codes]
    assert missing == []


def test_code_points_looked_up_by_name_agree_with_the_whole_map(qapp) -> None:  # noqa: ANN001
    glyphs.cache_clear()
    code_point.cache_clear()
    assert [code_point(qta[5:]) for qta in ICONS.values()].count(None) == 0
    assert glyphs.cache_info().misses == 0  # found without parsing the whole map (start-up cost)
    _, codes = glyphs()
    names = [qta[5:] for qta in ICONS.values()] + ["tag", "ab-testing", "zodiac-virgo"]
    assert {name: code_point(name) for name in names} == {name: codes[name] for name in names}
    assert code_point("no-such-glyph") is None and code_point("undo-") is None and code_point("ndo") is None


def test_icons_are_drawn_at_the_pixel_ratio_in_the_palette_colours(qapp) -> None:  # noqa: ANN001
    saved = QPalette(QGuiApplication.palette())
    try:
        sharp = icon("undo").pixmap(QSize(16, 16), 2.0)
        assert sharp.devicePixelRatio() == 2.0 and sharp.size() == QSize(32, 32)
        drawn, light_ink = _ink(sharp.toImage())
        native = icon("undo").pixmap(QSize(32, 32), 1.0).toImage()
        upscaled = icon("undo").pixmap(QSize(16, 16), 1.0).scaled(32, 32).toImage()
        assert drawn > 0 and _difference(sharp.toImage(), native) * 4 < _difference(upscaled, native)  # drawn at 32 px
        QGuiApplication.setPalette(dark_palette())
        _, dark_ink = _ink(icon("undo").pixmap(QSize(16, 16), 2.0).toImage())
        assert light_ink < 100 and dark_ink > 180  # the same icon object follows the palette
        disabled = icon("undo").pixmap(QSize(16, 16), 2.0, QIcon.Mode.Disabled).toImage()
        assert _ink(disabled)[1] < dark_ink
        assert _ink(icon("mdi6.tag").pixmap(QSize(16, 16)).toImage())[0] > 0  # a qtawesome name works too
    finally:
        QGuiApplication.setPalette(saved)


def test_the_application_icon_is_a_vector_drawing(qapp) -> None:  # noqa: ANN001
    assert APP_ICON.is_file() and APP_ICON.suffix == ".svg"
    big = app_icon().pixmap(QSize(256, 256)).toImage()
    assert big.width() == 256 and big.pixelColor(128, 128).alpha() == 255 and big.pixelColor(0, 0).alpha() == 0
