#!/usr/bin/env python3
"""Draws docs/dashboard.svg, the layout of the CloudWatch dashboard in template.yaml.

Reads the Dashboard resource's DashboardBody (the !Sub block under it), puts placeholders in the
${...} substitutions, parses the JSON and draws each widget at its x/y/width/height (24 columns)
with its title and what it shows: the metrics of a graph, the first line of a text widget, the
query of a log table. Python 3 standard library only. Run from anywhere:

    python3 docs/render-dashboard.py            # writes docs/dashboard.svg
    python3 docs/render-dashboard.py OUT.svg
"""

import json
import re
import sys
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMN, ROW, PAD = 44, 26, 4  # pixels per grid column and row, gap inside a cell
COLOURS = {"metric": "#e8f1fb", "text": "#f4f4f4", "log": "#eef7ea"}
PLACEHOLDERS = {"AWS::StackName": "STACK", "AWS::Region": "REGION"}


def dashboard_body(template: str) -> dict:
    """The DashboardBody block scalar of the template's one AWS::CloudWatch::Dashboard."""
    lines = template.splitlines()
    starts = [i for i, l in enumerate(lines) if l.strip() == "Type: AWS::CloudWatch::Dashboard"]
    if len(starts) != 1:
        sys.exit(f"expected one AWS::CloudWatch::Dashboard, found {len(starts)}")
    i = next(i for i in range(starts[0], len(lines)) if lines[i].strip().startswith("DashboardBody: !Sub |"))
    block, indent = [], None
    for line in lines[i + 1:]:
        if line.strip() == "":
            block.append("")
            continue
        width = len(line) - len(line.lstrip(" "))
        if indent is None:
            indent = width
        if width < indent:
            break
        block.append(line[indent:])
    text = re.sub(r"\$\{([^}!]+)\}", lambda m: PLACEHOLDERS.get(m.group(1), m.group(1)), "\n".join(block))
    return json.loads(text)


def describe(widget: dict) -> list[str]:
    """The lines printed inside a widget's box."""
    props = widget.get("properties", {})
    if widget["type"] == "text":
        return [l.lstrip("#- ").replace("**", "") for l in props.get("markdown", "").splitlines() if l.strip()]
    if widget["type"] == "log":
        return ["Logs Insights table:"] + [s.strip() for s in props.get("query", "").split("|")]
    out = []
    for row in props.get("metrics", []):
        if len(row) == 1 and isinstance(row[0], dict):
            expr = row[0].get("expression", "")
            names = re.findall(r'MetricName="([^"]+)"', expr)
            dims = re.search(r"\{([^}]*)\}", expr)
            shown = ", ".join(names[:3]) + (f" … (+{len(names) - 3})" if len(names) > 3 else "")
            out.append(f"SEARCH {{{dims.group(1) if dims else ''}}}: {shown}")
            continue
        options = row[-1] if isinstance(row[-1], dict) else {}
        parts = [p for p in row if not isinstance(p, dict)]
        label = options.get("label") or parts[1]
        out.append(f"{parts[0]} {parts[1]} ({options.get('stat', 'Average')}) – {label}")
    return out


def wrap(text: str, chars: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > chars:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return lines


def render(body: dict) -> str:
    widgets = body["widgets"]
    width = 24 * COLUMN
    height = max(w["y"] + w["height"] for w in widgets) * ROW
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for w in widgets:
        x, y = w["x"] * COLUMN + PAD, w["y"] * ROW + PAD
        wd, ht = w["width"] * COLUMN - 2 * PAD, w["height"] * ROW - 2 * PAD
        svg.append(
            f'<rect x="{x}" y="{y}" width="{wd}" height="{ht}" rx="4" '
            f'fill="{COLOURS.get(w["type"], "#fff")}" stroke="#8a9bb0"/>'
        )
        title = w.get("properties", {}).get("title")
        lines = describe(w)
        if title is None and lines:
            title, lines = lines[0], lines[1:]
        chars = max(10, int(wd / 6.2))
        ty = y + 17
        svg.append(f'<text x="{x + 8}" y="{ty}" font-size="13" font-weight="bold">{escape(title or "")}</text>')
        ty += 6
        for line in lines:
            # a text widget scrolls in CloudWatch: one line per paragraph here, cut to fit
            if w["type"] == "text":
                parts = [line if len(line) <= chars else line[: chars - 1] + "…"]
            else:
                parts = wrap(line, chars)
            for part in parts:
                ty += 13
                if ty > y + ht - 5:
                    break
                svg.append(f'<text x="{x + 8}" y="{ty}" font-size="11" fill="#333">{escape(part)}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.svg"
    body = dashboard_body((ROOT / "template.yaml").read_text())
    out.write_text(render(body))
    print(f"{out}: {len(body['widgets'])} widgets")


if __name__ == "__main__":
    main()
