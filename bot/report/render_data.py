"""The weekly summary as data: the full model in JSON, and a long-format CSV of every figure.

CSV columns: week, section, stage, metric, segment, measure, value, low, high, n, significant.
Hidden cells (n below the minimum) appear with their n and empty values.
"""

from __future__ import annotations

import csv
import io

from flows.report import FunnelFigures, MetricCell, WeeklyReport
from flows.stats import Change, Estimate

CSV_COLUMNS = [
    "week",
    "section",
    "stage",
    "metric",
    "segment",
    "measure",
    "value",
    "low",
    "high",
    "n",
    "significant",
]


def render_json(report: WeeklyReport) -> str:
    """Return the whole report as indented JSON."""
    return report.model_dump_json(indent=2)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


class _Rows:
    def __init__(self, week: str) -> None:
        self.week = week
        self.rows: list[list[str]] = []

    def add(
        self,
        section: str,
        measure: str,
        value: float | None,
        key: tuple[str, str, str] = ("", "", "all"),
        *,
        low: float | None = None,
        high: float | None = None,
        n: int | None = None,
        significant: bool | None = None,
    ) -> None:
        sig = "" if significant is None else str(significant).lower()
        self.rows.append(
            [
                self.week,
                section,
                *key,
                measure,
                _fmt(value),
                _fmt(low),
                _fmt(high),
                "" if n is None else str(n),
                sig,
            ]
        )

    def estimate(
        self, section: str, measure: str, e: Estimate | None, n: int, kw: tuple[str, str, str]
    ) -> None:
        if e is None:
            self.add(section, measure, None, kw, n=n)
        else:
            self.add(section, measure, e.value, kw, low=e.low, high=e.high, n=n)

    def cell(self, section: str, cell: MetricCell, kw: tuple[str, str, str]) -> None:
        self.estimate(section, "headline", cell.headline, cell.n, kw)
        self.estimate(section, "share_positive", cell.positive, cell.n, kw)
        self.estimate(section, "scale_position", cell.position, cell.n, kw)
        if cell.nps is not None:
            for name in ("promoters", "passives", "detractors"):
                self.add(section, name, getattr(cell.nps, name), kw, n=cell.n)
        if cell.csat is not None:
            self.estimate(section, "csat_mean", cell.csat.mean, cell.n, kw)
        if cell.ces is not None:
            self.estimate(section, "ces_top_box", cell.ces.top_box, cell.n, kw)

    def change(self, section: str, change: Change, kw: tuple[str, str, str]) -> None:
        self.add(
            section,
            "change",
            change.delta,
            kw,
            low=change.low,
            high=change.high,
            significant=change.significant,
        )

    def funnel(self, segment: str, f: FunnelFigures) -> None:
        for name in (
            "due",
            "sent",
            "delivered",
            "answered",
            "responses",
            "commented",
            "reasked",
            "opted_out",
            "unreachable",
            "due_sent",
            "due_sent_later",
            "due_cancelled",
            "due_pending",
            "sent_late",
        ):
            self.add("funnel", name, getattr(f, name), ("", "", segment))
        for why, count in f.unreachable_by_reason.items():
            self.add("funnel", f"unreachable_{why}", count, ("", "", segment))
        self.add("funnel", "response_rate", f.response_rate, ("", "", segment), n=f.delivered)
        self.add("funnel", "comment_rate", f.comment_rate, ("", "", segment), n=f.responses)


def render_csv(report: WeeklyReport) -> str:
    """Return every figure of the report as long-format CSV (one figure per row)."""
    out = _Rows(report.week)
    for s in report.stages:
        kw = (s.stage, s.metric.value, "all")
        out.cell("this_week", s.this_week, kw)
        out.cell("last_week", s.last_week, kw)
        out.cell("rolling_4w", s.rolling_4w, kw)
        out.cell("previous_4w", s.previous_4w, kw)
        out.change("vs_last_week", s.change_week, kw)
        out.change("vs_previous_4w", s.change_4w, kw)
        for score, count in s.distribution.items():
            out.add("distribution", f"score_{score}", count, kw)
        for lang, cell in s.by_language.items():
            out.cell("this_week", cell, (s.stage, s.metric.value, f"language:{lang}"))
        for channel, cell in s.by_channel.items():
            out.cell("this_week", cell, (s.stage, s.metric.value, f"channel:{channel}"))
        for point in s.trend:
            out.cell("trend_week", point.week_cell, (s.stage, s.metric.value, f"week:{point.week}"))
            out.cell("trend_rolling_4w", point.rolling_4w, (s.stage, s.metric.value, f"week:{point.week}"))
    if report.weakest_stage is not None:
        w = report.weakest_stage
        out.add(
            "weakest_stage",
            f"{report.normalisation}_{w.basis}",
            w.value.value,
            (w.stage, w.metric.value, "all"),
            low=w.value.low,
            high=w.value.high,
            n=w.value.n,
            significant=w.clear,
        )
    f = report.funnel
    out.funnel("all", f.overall)
    out.funnel("last_week", f.last_week)
    for name, fig in f.by_channel.items():
        out.funnel(f"channel:{name}", fig)
    for name, fig in f.by_language.items():
        out.funnel(f"language:{name}", fig)
    for name, fig in f.by_stage.items():
        out.funnel(f"stage:{name}", fig)
    for theme in report.themes:
        out.add("themes", "count", theme.count, ("", "", theme.topic))
        out.add("themes", "change", theme.change, ("", "", theme.topic))
    for entry in report.stage_themes:
        for section, themes in (("stage_struggles", entry.struggles), ("stage_works", entry.works)):
            for theme in themes:
                out.add(section, "count", theme.count, (entry.stage, "", theme.topic))
                out.add(section, "change", theme.change, (entry.stage, "", theme.topic))
    x = report.escalations
    for name in ("opened", "opened_last_week", "taken", "resolved", "overdue", "detractors_closed"):
        out.add("escalations", name, getattr(x, name))
    out.add("escalations", "detractors_recovered", x.detractors_recovered)
    out.add("escalations", "recovery_rate", x.recovery_rate, n=x.detractors_closed)
    out.add("escalations", "median_take_hours", x.median_take_hours)
    out.add("escalations", "median_resolve_hours", x.median_resolve_hours)
    out.add("escalations", "within_sla_pct", x.within_sla_pct)
    for name, count in x.closing.items():
        out.add("escalations", "closing", count, ("", "", name))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(out.rows)
    return buf.getvalue()
