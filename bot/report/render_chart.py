"""The weekly summary's chart (PNG): the journey map with 95 % intervals and the 4-week trend.

Under each stage of the map, its most frequent theme this week: what works (✓) and what hurts (✗).

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state), sized for a
phone screen: one column, large type.
"""

from __future__ import annotations

import io
import textwrap
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.report import labels as L
from flows.report import StageFigures, WeeklyReport

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
_WEAK = "#d62728"
_GOOD = "#2a7a2a"
_GREY = "#8a8a8a"


def _axis_floor(values: list[float]) -> float:
    """Return a round lower axis limit a little under ``values`` (0 when there are none)."""
    if not values:
        return 0.0
    return float(max(0, int((min(values) - 8) // 10) * 10))


def _is_weakest(report: WeeklyReport, stage: StageFigures) -> bool:
    w = report.weakest_stage
    return w is not None and (w.stage, w.metric) == (stage.stage, stage.metric)


#: Longest theme note under a stage of the map (a longer topic name is shortened).
_NOTE_CHARS = 34


def _theme_notes(report: WeeklyReport, lang: str) -> dict[str, list[tuple[str, str]]]:
    """Return, per stage, its top theme of what works and of what hurts as (text, colour)."""
    notes: dict[str, list[tuple[str, str]]] = {}
    for entry in report.stage_themes:
        tops = [("✓", _GOOD, entry.works), ("✗", _WEAK, entry.struggles)]
        notes[entry.stage] = [
            (textwrap.shorten(f"{mark} {L.topic(lang, top[0].topic)} {top[0].count}", _NOTE_CHARS), tint)
            for mark, tint, top in tops
            if top
        ]
    return notes


def _journey_panel(report: WeeklyReport, ax: Axes, lang: str) -> None:
    stages = report.stages
    notes = _theme_notes(report, lang)
    noted: set[str] = set()
    ys = list(range(len(stages)))[::-1]  # first stage on top
    basis_rolling = report.weakest_stage is not None and report.weakest_stage.basis == "rolling_4w"
    lo = _axis_floor(
        [
            c.low
            for s in stages
            for c in [(s.rolling_4w if basis_rolling else s.this_week).normalised(report.normalisation)]
            if c is not None and c.low is not None
        ]
    )
    for y, stage in zip(ys, stages, strict=True):
        if stage.stage not in noted:  # a stage asked with two metrics: its themes once
            noted.add(stage.stage)
            for k, (note, tint) in enumerate(notes.get(stage.stage, [])):
                ax.annotate(note, (lo, y), xytext=(4, -9 - 15 * k), textcoords="offset points", ha="left",
                            va="top", fontsize=12, color=tint)  # fmt: skip
        cell = stage.rolling_4w if basis_rolling else stage.this_week
        pos = cell.normalised(report.normalisation)
        color = _WEAK if _is_weakest(report, stage) else "#1f4e79"
        if pos is None or pos.value is None:
            note = L.t(lang, "no_answers") if cell.n == 0 else f"n={cell.n} < {report.min_n}"
            ax.text((lo + 100) / 2, y, note, ha="center", va="center", fontsize=13, color=_GREY)
            continue
        if pos.low is not None and pos.high is not None:
            ax.plot([pos.low, pos.high], [y, y], color=color, linewidth=4, solid_capstyle="butt", alpha=0.45)
        ax.plot([pos.value], [y], "o", color=color, markersize=13)
        native = L.headline(stage.metric, cell.headline, lang) if cell.headline is not None else ""
        common = L.common(report.normalisation, pos, lang, interval=False)
        ax.annotate(
            f"{common} · {L.metric_name(stage.metric)} {native} · n={cell.n}",
            (lo, y),
            xytext=(4, 12),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=12,
            color=color,
            fontweight="bold" if color == _WEAK else "normal",
        )
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [f"{s.position + 1}. " + "\n".join(textwrap.wrap(s.label, 13)) for s in stages], fontsize=14
    )
    for tick, stage in zip(ax.get_yticklabels(), stages, strict=True):
        if _is_weakest(report, stage):
            tick.set_color(_WEAK)
            tick.set_fontweight("bold")
    ax.set_xlim(lo, 100)
    ax.set_ylim(-0.6, len(stages) - 0.3)
    ax.set_xlabel(L.t(lang, "axis_" + report.normalisation), fontsize=13)
    ax.tick_params(axis="x", labelsize=12)
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    title = L.t(lang, "chart_title_" + report.normalisation)
    if basis_rolling:
        title += f"\n({L.t(lang, 'weakest_basis_rolling')})"
    lines = textwrap.wrap(title, 40)
    if report.stage_themes:  # the key to the theme notes
        lines.append(f"✓ {L.t(lang, 'works')} · ✗ {L.t(lang, 'struggles')}".lower())
    ax.set_title("\n".join(lines), fontsize=15, loc="left")


def _series(report: WeeklyReport, stage: StageFigures, *, rolling: bool) -> list[tuple[int, float]]:
    """Return (week index, value on the common scale) of the trend points that are shown."""
    out: list[tuple[int, float]] = []
    for x, point in enumerate(stage.trend):
        cell = point.rolling_4w if rolling else point.week_cell
        value = cell.normalised(report.normalisation)
        if value is not None and value.value is not None:
            out.append((x, value.value))
    return out


def _trend_panel(report: WeeklyReport, ax: Axes, lang: str) -> None:
    weeks = report.trend_weeks
    xs = list(range(len(weeks)))
    for i, stage in enumerate(report.stages):
        color = _WEAK if _is_weakest(report, stage) else _COLORS[i % len(_COLORS)]
        roll = _series(report, stage, rolling=True)
        single = _series(report, stage, rolling=False)
        label = f"{stage.position + 1}. {stage.label} ({L.metric_name(stage.metric)})"
        if roll:
            ax.plot([r[0] for r in roll], [r[1] for r in roll], "-", color=color, linewidth=3, label=label)
        if single:
            ax.plot(
                [s[0] for s in single],
                [s[1] for s in single],
                "o",
                color=color,
                markersize=7,
                markerfacecolor="white",
                label=None if roll else label,
            )
    ax.set_xticks(xs)
    ax.set_xlim(-0.4, len(xs) - 0.6)  # room for the first and last week's markers
    ax.set_xticklabels([w.split("-")[1] for w in weeks], fontsize=12)
    values = [
        v for stage in report.stages for r in (True, False) for _, v in _series(report, stage, rolling=r)
    ]
    ax.set_ylim(_axis_floor(values), 100)
    ax.set_ylabel("0–100", fontsize=13)
    ax.tick_params(axis="y", labelsize=12)
    ax.grid(color="#dddddd")
    trend_title = L.t(lang, "chart_trend_" + report.normalisation)
    ax.set_title("\n".join(textwrap.wrap(trend_title, 40)), fontsize=15, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize=12, frameon=False)
    else:
        ax.text(
            0.5, 0.5, f"n < {report.min_n}", transform=ax.transAxes, ha="center", fontsize=14, color=_GREY
        )


Panel = Literal["both", "journey", "trend"]

#: Width in inches of one panel drawn alone (the HTML page shows the two panels as two images):
#: narrow enough that, scaled down to a 420 px phone screen, 11 pt text is still ≥ 11 px.
PANEL_WIDTH = 4.2


def render_chart(report: WeeklyReport, *, dpi: int = 160, panel: Panel = "both", width: float = 6.4) -> bytes:
    """Return the chart as PNG bytes: both panels (about 1000 px wide, type sized for a phone
    screen; Telegram and ``--format png``), or one of them (the HTML page's images)."""
    lang = L.lang_of(report.language)
    rows = max(1, len(report.stages))
    height_map = 1.4 + (1.5 if report.stage_themes else 0.95) * rows  # room for the theme notes
    height_trend = 3.6 + 0.3 * rows
    heights = {"both": height_map + height_trend, "journey": height_map, "trend": height_trend}[panel]
    fig = Figure(figsize=(width, heights), dpi=dpi)
    FigureCanvasAgg(fig)
    if not report.stages:
        fig.text(0.5, 0.5, L.t(lang, "no_answers"), ha="center", fontsize=16)
    elif panel == "both":
        grid = fig.add_gridspec(2, 1, height_ratios=[height_map, height_trend], hspace=0.55)
        fig.suptitle(f"cxbot · {report.week}", fontsize=17, fontweight="bold", x=0.02, ha="left")
        _journey_panel(report, fig.add_subplot(grid[0]), lang)
        _trend_panel(report, fig.add_subplot(grid[1]), lang)
    elif panel == "journey":
        _journey_panel(report, fig.add_subplot(), lang)
    else:
        _trend_panel(report, fig.add_subplot(), lang)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def journey_alt(report: WeeklyReport) -> str:
    """Return the journey chart's text alternative: each stage's value and interval and its top
    themes, the weakest."""
    lang = L.lang_of(report.language)
    basis_rolling = report.weakest_stage is not None and report.weakest_stage.basis == "rolling_4w"
    notes = _theme_notes(report, lang)
    parts = []
    for stage in report.stages:
        cell = stage.rolling_4w if basis_rolling else stage.this_week
        pos = cell.normalised(report.normalisation)
        if pos is None or pos.value is None:
            part = f"{stage.position + 1}. {stage.label}: n={cell.n} < {report.min_n}"
        else:
            value = L.common(report.normalisation, pos, lang)
            part = f"{stage.position + 1}. {stage.label}: {value}, n={cell.n}"
        themes = ", ".join(note for note, _ in notes.pop(stage.stage, []))
        parts.append(f"{part} ({themes})" if themes else part)
    text = L.t(lang, "chart_title_" + report.normalisation) + ". " + "; ".join(parts)
    if report.weakest_stage is not None:
        text += f". {L.t(lang, 'weakest')}: {report.weakest_stage.label}"
    return text


def trend_alt(report: WeeklyReport) -> str:
    """Return the trend chart's text alternative: each stage's 4-week values, oldest to newest."""
    lang = L.lang_of(report.language)
    weeks = report.trend_weeks
    span = f"{weeks[0]}–{weeks[-1]}" if weeks else ""
    parts = []
    for stage in report.stages:
        values = [L.num(v, lang) for _, v in _series(report, stage, rolling=True)]
        parts.append(f"{stage.label}: {' → '.join(values) if values else f'n < {report.min_n}'}")
    return f"{L.t(lang, 'chart_trend_' + report.normalisation)} ({span}). " + "; ".join(parts)
