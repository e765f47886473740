"""Draw the layers of the core and of the app, as the import contracts declare them and as the code imports, to SVG.

Usage: ``python resources/architecture.py OUT.svg`` (``make docs``). Reads the ``layers`` contracts of
``[tool.importlinter]`` in pyproject.toml, puts each layer's packages in a row (top layer first) with the modules they
hold, and under each package the packages it imports (the import graph of the code, as ``lint-imports`` sees it:
imports under ``if TYPE_CHECKING:`` don't count). ``--check`` compares with the file instead of writing it.
"""

from __future__ import annotations

import sys
import tomllib
from html import escape
from pathlib import Path
from typing import Any

import grimp

ROOT = Path(__file__).resolve().parent.parent
CHAR_W, LINE_H, PAD, GAP, TITLE_H = 6.6, 15, 8, 14, 18
BOX_W_MIN, WRAP = 150, 34
COLORS = ["#e8f0fe", "#fef7e0", "#e6f4ea", "#fce8e6", "#f3e8fd", "#e4f7fb", "#fff0e0", "#eef2f5", "#f1f8e9"]


def layer_contracts() -> list[dict[str, Any]]:
    """The ``layers`` contracts of pyproject.toml over a root package (``cvops``, ``cvops_app``), each with its
    container and its layers (lists of sibling names)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    roots = set(config["root_packages"])
    contracts = [c for c in config["contracts"] if c["type"] == "layers" and c["containers"][0] in roots]
    return [{"name": c["name"], "container": c["containers"][0],
             "layers": [[p.strip() for p in layer.replace(":", "|").split("|")] for layer in c["layers"]]}
            for c in contracts]


def _owner(module: str, packages: list[str]) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def describe(graph: grimp.ImportGraph, contract: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Rows of boxes: each box a package (or module) of the layer with its modules and the packages it imports."""
    container = contract["container"]
    packages = [f"{container}.{name}" for layer in contract["layers"] for name in layer]
    rows = []
    for layer in contract["layers"]:
        row = []
        for name in layer:
            full = f"{container}.{name}"
            members = sorted(m for m in graph.modules if m.startswith(full + "."))
            modules = sorted({m[len(full) + 1:].split(".")[0] for m in members} - {"__main__"})
            uses: set[str] = set()
            for m in [full, *members]:
                if m not in graph.modules:
                    continue
                for imported in graph.find_modules_directly_imported_by(m):
                    owner = _owner(imported, packages)
                    if owner and owner != full:
                        uses.add(owner[len(container) + 1:])
            order = {p[len(container) + 1:]: i for i, p in enumerate(packages)}
            row.append({"name": name, "modules": modules, "uses": sorted(uses, key=order.__getitem__)})
        rows.append(row)
    return rows


def _wrap(words: list[str], width: int = WRAP) -> list[str]:
    lines, line = [], ""
    for w in words:
        if line and len(line) + 2 + len(w) > width:
            lines.append(line + ",")
            line = w
        else:
            line = f"{line}, {w}" if line else w
    return lines + ([line] if line else [])


def _box_lines(box: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("mod", line) for line in _wrap(box["modules"])] if box["modules"] else [("mod", "(a module)")]
    uses = _wrap(box["uses"], WRAP - 8) if box["uses"] else ["nothing of these layers"]
    return lines + [("uses", ("imports " if i == 0 else "        ") + u) for i, u in enumerate(uses)]


def render(contracts: list[dict[str, Any]], graph: grimp.ImportGraph) -> str:
    """The SVG: one column per contract, one row per layer, top layer first."""
    columns, x, height = [], 10.0, 0.0
    for contract in contracts:
        rows = describe(graph, contract)
        sized = []
        for row in rows:
            boxes = []
            for box in row:
                lines = _box_lines(box)
                w = max(BOX_W_MIN, CHAR_W * max(len(box["name"]) + 2, *(len(t) for _, t in lines)) + 2 * PAD)
                h = TITLE_H + LINE_H * len(lines) + 2 * PAD
                boxes.append((box, lines, w, h))
            sized.append(boxes)
        width = max(sum(b[2] for b in row) + GAP * (len(row) - 1) for row in sized)
        columns.append((contract, sized, x, width))
        col_h = 40 + sum(max(b[3] for b in row) + GAP for row in sized)
        height = max(height, col_h)
        x += width + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{x - 30:.0f}" height="{height + 10:.0f}" '
           'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    for contract, sized, x0, width in columns:
        out.append(f'<text x="{x0:.0f}" y="20" font-size="14" font-weight="bold">{escape(contract["container"])}'
                   f'</text><text x="{x0:.0f}" y="34" fill="#555">top layer first: each imports only the layers '
                   'below it</text>')
        y = 44.0
        for i, row in enumerate(sized):
            row_w = sum(b[2] for b in row) + GAP * (len(row) - 1)
            bx = x0 + (width - row_w) / 2
            row_h = max(b[3] for b in row)
            for box, lines, w, h in row:
                out.append(f'<rect x="{bx:.0f}" y="{y:.0f}" width="{w:.0f}" height="{row_h:.0f}" rx="6" '
                           f'fill="{COLORS[i % len(COLORS)]}" stroke="#6b7280"/>')
                out.append(f'<text x="{bx + PAD:.0f}" y="{y + PAD + 11:.0f}" font-weight="bold" font-size="12">'
                           f'{escape(contract["container"] + "." + box["name"])}</text>')
                for j, (kind, text) in enumerate(lines):
                    color = "#1f2937" if kind == "mod" else "#6b7280"
                    style = "" if kind == "mod" else ' font-style="italic"'
                    out.append(f'<text x="{bx + PAD:.0f}" y="{y + PAD + TITLE_H + 11 + j * LINE_H:.0f}" '
                               f'fill="{color}"{style} xml:space="preserve">{escape(text)}</text>')
                bx += w + GAP
            y += row_h + GAP
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the SVG; exit 1 when ``--check`` finds it out of date."""
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "app")]
    graph = grimp.build_graph("cvops", "cvops_app", exclude_type_checking_imports=True)
    svg = render(layer_contracts(), graph)
    target = Path(paths[0])
    if check:
        current = target.read_text() if target.is_file() else ""
        if current != svg:
            print(f"{target} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    target.write_text(svg)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
