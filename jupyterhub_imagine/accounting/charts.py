"""Small server-side SVG charts (pure; no scripts, no CDN). Text is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 60, 16, 16, 40
COLORS = {"active": "#2e7d32", "idle": "#e65100", "unknown": "#9e9e9e", "line": "#1565c0",
          "budget": "#c62828", "bar": "#1565c0"}


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.2g}"


def _label_step(n: int, most: int = 7) -> int:
    """Every how many x labels one is written, so that at most ``most`` show."""
    return max(1, -(-n // most))


def _svg(body: list[str], title: str, height: int = H) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" '
            f'width="100%" style="max-width:{W * 1.6:.0f}px" role="img" '
            f'aria-label="{escape(title)}" '
            'font-family="sans-serif" font-size="11">')
    return "\n".join([head, f"<title>{escape(title)}</title>", *body, "</svg>"])


def _y_axis(top: float, height: int, fmt: Callable[[float], str] = _fmt) -> list[str]:
    out = []
    for i in range(5):
        v = top * i / 4
        y = height - PAD_B - (height - PAD_T - PAD_B) * i / 4
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#e0e0e0"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    return out


def cumulative_chart(labels: Sequence[str], values: Sequence[float], budget: float,
                     projection: Sequence[float] = (), title: str = "") -> str:
    """Cumulative GPU-hours per period (solid), projected (dashed), and the budget line."""
    n = len(labels) + len(projection)
    top = max([budget, *values, *projection, 1.0]) * 1.05
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(i: int, v: float) -> str:
        x = PAD_L + plot_w * (i + 0.5) / max(n, 1)
        return f"{x:.1f},{H - PAD_B - plot_h * v / top:.1f}"

    body = _y_axis(top, H)
    pts = [xy(i, v) for i, v in enumerate(values)]
    if pts:
        body.append(f'<polyline fill="none" stroke="{COLORS["line"]}" stroke-width="2.5" '
                    f'points="{" ".join(pts)}"/>')
    if projection and values:
        proj = [xy(len(values) - 1, values[-1])]
        proj += [xy(len(values) + i, v) for i, v in enumerate(projection)]
        body.append(f'<polyline fill="none" stroke="{COLORS["line"]}" stroke-width="2" '
                    f'stroke-dasharray="6 4" points="{" ".join(proj)}"/>')
    if budget:
        y = H - PAD_B - plot_h * budget / top
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{COLORS["budget"]}" stroke-width="2" stroke-dasharray="2 3"/>')
        body.append(f'<text x="{W - PAD_R}" y="{y - 4:.1f}" text-anchor="end" '
                    f'fill="{COLORS["budget"]}">budget {_fmt(budget)} GPU-h</text>')
    step = _label_step(n)
    for i, label in enumerate(labels):
        if i % step == 0:
            x = PAD_L + plot_w * (i + 0.5) / max(n, 1)
            body.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">'
                        f'{escape(label)}</text>')
    return _svg(body, title or "Cumulative GPU-hours against the budget")


def column_chart(labels: Sequence[str], values: Sequence[float], title: str,
                 percent: bool = False) -> str:
    """One column per label (e.g. the idle share per week)."""
    top = 1.0 if percent else max([*values, 1.0]) * 1.05
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    body = _y_axis(top, H, (lambda v: f"{v:.0%}") if percent else _fmt)
    width = plot_w / max(len(values), 1)
    step = _label_step(len(labels))
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * v / top
        x = PAD_L + width * i + width * 0.15
        tip = f"{label}: {v:.0%}" if percent else f"{label}: {_fmt(v)}"
        body.append(f'<rect x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{width * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{COLORS["idle"] if percent else COLORS["bar"]}">'
                    f'<title>{escape(tip)}</title></rect>')
        if i % step == 0:
            body.append(f'<text x="{x + width * 0.35:.1f}" y="{H - PAD_B + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    return _svg(body, title)


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str) -> str:
    """Horizontal bars, stacked by series (e.g. active / idle / unknown per community)."""
    row_h = 26
    height = PAD_T + PAD_B + row_h * max(len(labels), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max([*totals, 1.0]) * 1.05
    left = 190
    plot_w = W - left - PAD_R - 60
    body = []
    for i, label in enumerate(labels):
        y = PAD_T + row_h * i
        body.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">'
                    f'{escape(label[:32])}</text>')
        x = float(left)
        for name, values in series.items():
            w = plot_w * values[i] / top
            body.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                        f'fill="{COLORS.get(name, COLORS["bar"])}"><title>'
                        f'{escape(f"{label} {name}: {_fmt(values[i])}")}</title></rect>')
            x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 16}">{_fmt(totals[i])}</text>')
    if len(series) > 1:
        x = left
        for name in series:
            body.append(f'<rect x="{x}" y="{height - 22}" width="10" height="10" '
                        f'fill="{COLORS.get(name, COLORS["bar"])}"/>')
            body.append(f'<text x="{x + 14}" y="{height - 13}">{escape(name)}</text>')
            x += 90
    return _svg(body, title, height)
