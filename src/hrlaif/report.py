"""Self-contained HTML reports and markdown summaries.

Everything that comes from a model or a data file is escaped (``html.escape``) before it
reaches the page; plots are PNGs embedded as base64 so the HTML is one file that opens
anywhere, offline. The pipeline builds its report from these pieces; stages may too.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Figure:
    title: str
    png: Path
    note: str = ""


@dataclass
class Text:
    body: str
    pre: bool = False


@dataclass
class Section:
    title: str
    items: list[Table | Figure | Text] = field(default_factory=list)


def fmt(v: Any, digits: int = 3) -> str:
    """Numbers for humans: floats to ``digits`` significant places, None as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def pct(x: float | None, ci: Sequence[float] | None = None) -> str:
    """0.8221 → '82.2%'; with a CI → '82.2% [78.0, 86.1]'."""
    if x is None:
        return "–"
    s = f"{100 * x:.1f}%"
    if ci is not None and len(ci) == 2 and ci[0] is not None:
        s += f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return s


def markdown_table(table: Table) -> str:
    def cell(v: Any) -> str:
        return fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"**{table.title}**", "", "| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def markdown(title: str, sections: list[Section], *, base: Path | None = None) -> str:
    """Markdown version of the report; figure links are relative to ``base`` (the .md's folder)."""
    import os

    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for it in s.items:
            if isinstance(it, Table):
                out += [markdown_table(it), ""]
            elif isinstance(it, Figure):
                link = os.path.relpath(it.png, base) if base else it.png.name
                out += [f"![{it.title}]({link})", ""]
            else:
                out += [("```\n" + it.body + "\n```") if it.pre else it.body, ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d1d1f;line-height:1.45;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.92rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .6rem;text-align:right;vertical-align:top}
th{background:#f3f4f6}td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0}
.note{color:#555;font-size:.86rem}pre{background:#f6f8fa;padding:.8rem;overflow:auto;white-space:pre-wrap}
figure{margin:1rem 0}figcaption{font-weight:600}img{max-width:100%;border:1px solid #eee}
"""


def html_page(title: str, sections: list[Section], *, subtitle: str = "") -> str:
    e = html.escape
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">",
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    if subtitle:
        parts.append(f"<p class='note'>{e(subtitle)}</p>")
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        for it in s.items:
            if isinstance(it, Table):
                parts.append(f"<table><caption>{e(it.title)}</caption><thead><tr>")
                parts += [f"<th>{e(str(c))}</th>" for c in it.columns]
                parts.append("</tr></thead><tbody>")
                for row in it.rows:
                    parts.append("<tr>" + "".join(f"<td>{e(fmt(v))}</td>" for v in row) + "</tr>")
                parts.append("</tbody></table>")
                if it.note:
                    parts.append(f"<p class='note'>{e(it.note)}</p>")
            elif isinstance(it, Figure):
                if it.png.exists():
                    data = base64.b64encode(it.png.read_bytes()).decode("ascii")
                    parts.append(f"<figure><figcaption>{e(it.title)}</figcaption>"
                                 f"<img alt='{e(it.title)}' src='data:image/png;base64,{data}'></figure>")
                if it.note:
                    parts.append(f"<p class='note'>{e(it.note)}</p>")
            else:
                parts.append(f"<pre>{e(it.body)}</pre>" if it.pre else f"<p>{e(it.body)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out_dir: str | Path, title: str, sections: list[Section], *, subtitle: str = "",
                 stem: str = "report") -> tuple[Path, Path]:
    """Write ``<stem>.html`` (self-contained) and ``<stem>.md`` atomically; return both paths."""
    from hrlaif.data import atomic_write_text

    out = Path(out_dir)
    h, m = out / f"{stem}.html", out / f"{stem}.md"
    atomic_write_text(h, html_page(title, sections, subtitle=subtitle))
    atomic_write_text(m, markdown(title, sections, base=out))
    return h, m


# --------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:  # noqa: ANN001
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def bar_plot(path: str | Path, title: str, groups: list[str], series: dict[str, list[float | None]], *,
             ylabel: str = "", errors: dict[str, list[tuple[float, float] | None]] | None = None,
             ylim: tuple[float, float] | None = None) -> Path:
    """Grouped bars: one group per label in ``groups``, one bar per series."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(groups) * max(1, len(series)) / 2 + 2), 3.6))
    n = max(1, len(series))
    width = 0.8 / n
    for s, (name, vals) in enumerate(series.items()):
        xs = [g + (s - (n - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v is not None else 0.0 for v in vals]
        yerr = None
        if errors and errors.get(name):
            lo = [max(0.0, y - e[0]) if e else 0.0 for y, e in zip(ys, errors[name])]
            hi = [max(0.0, e[1] - y) if e else 0.0 for y, e in zip(ys, errors[name])]
            yerr = [lo, hi]
        ax.bar(xs, ys, width=width * 0.95, label=name, yerr=yerr, capsize=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=15 if len(groups) > 4 else 0)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def line_plot(path: str | Path, title: str, curves: dict[str, tuple[list[float], list[float]]], *,
              xlabel: str = "update", panels: list[str] | None = None) -> Path:
    """Curves as ``{label: (xs, ys)}``; ``panels`` splits labels by the prefix before ':'."""
    plt = _plt()
    keys = panels or sorted({k.split(":")[0] for k in curves})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, (xs, ys) in curves.items():
            if label.split(":")[0] == key:
                ax.plot(xs, ys, marker=".", label=label.split(":", 1)[-1])
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(plt, fig, path)
