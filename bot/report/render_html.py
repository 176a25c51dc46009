"""The weekly summary as one self-contained HTML page (inline CSS, chart embedded as base64 PNG).

Every piece of text that may come from customers or configuration is escaped.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from html import escape

from bot.report import labels as L
from bot.report.render_chart import PANEL_WIDTH, journey_alt, render_chart, trend_alt
from flows.report import FunnelFigures, MetricCell, StageFigures, Theme, WeeklyReport
from flows.stats import Change

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;
background:#f4f6f8;color:#1d2733}
main{max-width:940px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .4em;border-bottom:2px solid #d7dee6}
.sub{color:#5a6878;margin:0 0 1em}.note{color:#5a6878;font-size:.9em}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.95em;margin:.3em 0 .8em}
th,td{border:1px solid #d7dee6;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eaf0f5}td.num{text-align:right;white-space:nowrap}
th[title]{text-decoration:underline dotted;cursor:help}
.weak{background:#fdecec}.weak td:first-child{border-left:4px solid #d62728}
.hidden{color:#8a8a8a;font-style:italic}.sig{font-weight:bold}.ns{color:#5a6878}
.alert{background:#fdecec;border-left:4px solid #d62728;padding:8px 12px;margin:.6em 0}
blockquote{margin:.4em 0;padding:6px 12px;background:#fff;border-left:4px solid #8a8a8a}
blockquote.negative{border-color:#d62728}blockquote.positive{border-color:#2ca02c}
img{display:block;width:100%;max-width:640px;height:auto;margin:0 auto 12px;background:#fff}
.scroll{overflow-x:auto}.adds{color:#5a6878;font-size:.9em;margin:.2em 0}
dl.defs{font-size:.9em}dl.defs dt{font-weight:600;margin-top:.4em}dl.defs dd{margin:0 0 0 1em;color:#3a4756}
@media (max-width:600px){
body{font-size:15px}main{padding:8px}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:auto}
table.cards tr{background:#fff;border:1px solid #d7dee6;border-radius:6px;margin:0 0 10px;padding:4px 10px}
table.cards td{border:0;border-bottom:1px solid #eef2f5;padding:5px 0;text-align:right;white-space:normal;
overflow:hidden}
table.cards td:last-child{border-bottom:0}
table.cards td::before{content:attr(data-label);float:left;margin-right:12px;font-weight:600;color:#5a6878;
text-align:left}
table.cards td:first-child{display:block;font-weight:700;font-size:1.05em;text-align:left}
table.cards td:first-child::before{content:none}
table.cards td:empty{display:none}
}
"""


Head = list[tuple[str, str | None]]  # (column label, definition key or None)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _cell(cell: MetricCell, lang: str, min_n: int) -> str:
    if cell.n == 0:
        return f'<span class="hidden">{_e(L.t(lang, "no_answers"))}</span>'
    if cell.hidden or cell.headline is None:
        return f'<span class="hidden">{_e(L.t(lang, "hidden", n=min_n))} (n={cell.n})</span>'
    return _e(L.headline(cell.metric, cell.headline, lang))


def _change(stage: StageFigures, change: Change, lang: str) -> str:
    if change.delta is None:
        return _e(L.t(lang, "none"))
    cls, word = ("sig", L.t(lang, "sig")) if change.significant else ("ns", L.t(lang, "ns"))
    value = _e(L.delta(stage.metric, change.delta, lang))
    return f'<span class="{cls}">{value}</span> <small>({_e(word)})</small>'


def _journey(report: WeeklyReport, lang: str) -> str:
    head: Head = [
        (L.t(lang, "stage"), "stages"),
        (L.t(lang, "metric"), None),
        (L.t(lang, "this_week"), "headline"),
        ("n", "n"),
        (
            L.t(lang, "short_" + report.normalisation),
            "position" if report.normalisation == "scale_position" else "positive",
        ),
        (L.t(lang, "details"), None),
        (L.t(lang, "vs_last_week"), "change_week"),
        (L.t(lang, "vs_prev_4w"), "change_4w"),
        (L.t(lang, "rolling_4w"), "rolling_4w"),
    ]
    rows = []
    w = report.weakest_stage
    for s in report.stages:
        weak = w is not None and (w.stage, w.metric) == (s.stage, s.metric)
        pos = s.this_week.normalised(report.normalisation)
        rolling = _cell(s.rolling_4w, lang, report.min_n)
        rows.append(
            (
                "weak" if weak else "",
                [
                    f"{s.position + 1}. {_e(s.label)}",
                    _e(L.metric_name(s.metric)),
                    _cell(s.this_week, lang, report.min_n),
                    f'<td class="num">{s.this_week.n}</td>',
                    f'<td class="num">{_e(L.common(report.normalisation, pos, lang)) if pos else ""}</td>',
                    f"<small>{_e(L.details(s.this_week, lang))}</small>"
                    if L.details(s.this_week, lang)
                    else "",
                    _change(s, s.change_week, lang),
                    _change(s, s.change_4w, lang),
                    f"{rolling} <small>n={s.rolling_4w.n}</small>",
                ],
            )
        )
    table = _table(head, rows, report.definitions)
    if w is None:
        verdict = f"<p>{_e(L.t(lang, 'weakest_none'))}</p>"
    else:
        runner = next((s.label for s in report.stages if s.stage == w.runner_up), w.runner_up or "")
        text = L.t(lang, "weakest_clear" if w.clear else "weakest_unclear", other=runner)
        basis = f" — {L.t(lang, 'weakest_basis_rolling')}" if w.basis == "rolling_4w" else ""
        verdict = (
            f'<div class="alert"><b>{_e(L.t(lang, "weakest"))}: {_e(w.label)}</b> — '
            f"{_e(L.common(report.normalisation, w.value, lang))} · {_e(text)}{_e(basis)}</div>"
        )
    note = f'<p class="note">{_e(L.t(lang, "note_" + report.normalisation))}</p>'
    return f"<h2>{_e(L.t(lang, 'journey'))}</h2>{note}{table}{verdict}"


def _table(head: Head, rows: list[tuple[str, list[str]]], defs: dict[str, str] | None = None) -> str:
    """Return a table that reflows into one card per row on a phone: each cell carries its column
    label (``data-label``), the first cell is the card's title; headers show their definition on hover."""
    defs = defs or {}
    th = "".join(
        f'<th title="{_e(defs[key])}">{_e(label)}</th>' if key and key in defs else f"<th>{_e(label)}</th>"
        for label, key in head
    )
    body = []
    for css, cells in rows:
        tds = []
        for i, cell in enumerate(cells):
            attrs = "" if i == 0 else f' data-label="{_e(head[i][0])}"'
            if cell.startswith("<td"):  # a cell with its own attributes: keep them, add the label
                tds.append(cell.replace("<td", f"<td{attrs}", 1))
            else:
                tds.append(f"<td{attrs}>{cell}</td>")
        row_class = f' class="{css}"' if css else ""
        body.append(f"<tr{row_class}>{''.join(tds)}</tr>")
    return (
        f'<div class="scroll"><table class="cards"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


_FUNNEL_COLUMNS = (
    "due",
    "sent",
    "sent_late",
    "delivered",
    "answered",
    "response_rate",
    "responses",
    "comment_rate",
    "reasked",
    "opted_out",
    "unreachable",
)


def _funnel_rows(items: dict[str, FunnelFigures], lang: str) -> list[tuple[str, list[str]]]:
    rows = []
    for name, f in items.items():
        cells = [_e(name)]
        for key in _FUNNEL_COLUMNS:
            value = getattr(f, key)
            shown = L.pct(value, lang) if key.endswith("_rate") else str(value)
            cells.append(f'<td class="num">{_e(shown)}</td>')
        rows.append(("", cells))
    return rows


def _funnel(report: WeeklyReport, lang: str) -> str:
    from bot.report.render_text import funnel_breakdown

    f = report.funnel
    head: Head = [("", None), *((L.t(lang, k), k) for k in _FUNNEL_COLUMNS)]
    labels = {s.stage: s.label for s in report.stages}
    rows = _funnel_rows(
        {L.t(lang, "this_week"): f.overall, L.t(lang, "last_week").capitalize(): f.last_week}, lang
    )
    adds = "".join(f'<p class="adds">{_e(line)}</p>' for line in funnel_breakdown(f.overall, lang))
    out = [f"<h2>{_e(L.t(lang, 'funnel'))}</h2>", _table(head, rows, report.definitions), adds]
    groups = (
        ("by_channel", f.by_channel),
        ("by_language", {L.language_name(lang, k): v for k, v in f.by_language.items()}),
        ("by_stage", {labels.get(k, k): v for k, v in f.by_stage.items()}),
    )
    for key, items in groups:
        if items:
            table = _table(head, _funnel_rows(items, lang), report.definitions)
            out.append(f"<h3>{_e(L.t(lang, key))}</h3>{table}")
    return "".join(out)


def _themes(report: WeeklyReport, lang: str) -> str:
    out = f"<h2>{_e(L.t(lang, 'themes'))}</h2>"
    if not report.themes:
        return out + f"<p>{_e(L.t(lang, 'no_themes'))}</p>"
    rows = [
        (
            "",
            [
                _e(L.topic(lang, t.topic)),
                f"<td class='num'>{t.count}</td>",
                f"<td class='num'>{t.last_week}</td>",
                f"<td class='num'>{_e(L.num(t.change, lang, signed=True))}</td>",
            ],
        )
        for t in report.themes
    ]
    head: Head = [
        ("", "themes"),
        (L.t(lang, "this_week"), "count"),
        (L.t(lang, "last_week"), None),
        (L.t(lang, "change"), "change"),
    ]
    return out + _table(head, rows, report.definitions)


def _stage_themes(report: WeeklyReport, lang: str) -> str:
    """Per stage, what hurts next to what works (a table; cards on a phone)."""
    out = f"<h2>{_e(L.t(lang, 'stage_themes'))}</h2>"
    if not report.stage_themes:
        return out + f"<p>{_e(L.t(lang, 'no_stage_themes'))}</p>"

    def listed(themes: list[Theme]) -> str:
        return "<br>".join(_e(L.theme(lang, t)) for t in themes) or _e(L.t(lang, "none"))

    rows = [("", [_e(s.label), listed(s.struggles), listed(s.works)]) for s in report.stage_themes]
    head: Head = [
        (L.t(lang, "stage"), "stage_themes"),
        ("👎 " + L.t(lang, "struggles"), "struggles"),
        ("👍 " + L.t(lang, "works"), "works"),
    ]
    return out + _table(head, rows, report.definitions)


def _verbatims(report: WeeklyReport, lang: str) -> str:
    out = f"<h2>{_e(L.t(lang, 'verbatims'))}</h2>"
    if not report.verbatims:
        return out + f"<p>{_e(L.t(lang, 'no_verbatims'))}</p>"
    for q in report.verbatims:
        meta = f"{q.label} · {L.metric_name(q.metric)} {q.score} · {q.language} · {q.channel}"
        out += (
            f'<blockquote class="{_e(q.sentiment.value)}">«{_e(q.text)}»'
            f"<br><small>{_e(meta)}</small></blockquote>"
        )
    return out


def _escalations(report: WeeklyReport, lang: str) -> str:
    x = report.escalations
    rows = [
        ("opened", L.t(lang, "opened"), f"{x.opened} ({L.t(lang, 'last_week')} {x.opened_last_week})"),
        ("taken", L.t(lang, "taken"), str(x.taken)),
        ("resolved", L.t(lang, "resolved"), str(x.resolved)),
        ("overdue", L.t(lang, "overdue"), str(x.overdue)),
        ("median_take_hours", L.t(lang, "median_take"), L.hours(x.median_take_hours, lang)),
        ("median_resolve_hours", L.t(lang, "median_resolve"), L.hours(x.median_resolve_hours, lang)),
        ("within_sla_pct", L.t(lang, "within_sla"), L.pct(x.within_sla_pct, lang)),
        (
            "recovery_rate",
            L.t(lang, "recovery"),
            f"{x.detractors_recovered}/{x.detractors_closed} ({L.pct(x.recovery_rate, lang)}), "
            f"n={x.detractors_closed}",
        ),
    ]
    if x.closing:
        closing = " · ".join(f"{L.closing(lang, k)} {v}" for k, v in x.closing.items())
        rows.append(("closing", L.t(lang, "closing"), closing))
    defs = report.definitions
    body = [
        f'<tr><th title="{_e(defs.get(key, ""))}">{_e(k)}</th><td>{_e(v)}</td></tr>' for key, k, v in rows
    ]
    out = f"<h2>{_e(L.t(lang, 'escalations'))}</h2><table><tbody>{''.join(body)}</tbody></table>"
    if x.overdue_items:
        labels = {s.stage: s.label for s in report.stages}
        items = [
            (
                "",
                [
                    _e(o.ref),
                    _e(labels.get(o.stage, o.stage)),
                    _e(o.priority),
                    _e(L.day(o.opened_at.astimezone(report.period_start.tzinfo).date(), lang)),
                ],
            )
            for o in x.overdue_items
        ]
        head: Head = [
            ("#", "overdue_items"),
            (L.t(lang, "stage"), None),
            ("P", None),
            (L.t(lang, "since"), None),
        ]
        out += f"<h3>{_e(L.t(lang, 'overdue_list'))}</h3>" + _table(head, items, defs)
    return out


def _segments(report: WeeklyReport, lang: str) -> str:
    rows = []
    for s in report.stages:
        segs = [(L.language_name(lang, k), c) for k, c in s.by_language.items()]
        segs += [(k, c) for k, c in s.by_channel.items()]
        for name, cell in segs:
            rows.append(
                (
                    "",
                    [
                        f"{_e(s.label)} ({_e(L.metric_name(s.metric))}) · {_e(name)}",
                        _cell(cell, lang, report.min_n),
                        f"<td class='num'>{cell.n}</td>",
                    ],
                )
            )
    if not rows:
        return ""
    head: Head = [(L.t(lang, "stage"), "by_language"), (L.t(lang, "this_week"), "headline"), ("n", "n")]
    return f"<h2>{_e(L.t(lang, 'segments'))}</h2>" + _table(head, rows, report.definitions)


def _definitions(report: WeeklyReport, lang: str) -> str:
    """Return the footnote: every figure's one-line definition (also the headers' hover titles)."""
    if not report.definitions:
        return ""
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in report.definitions.items())
    return (
        f"<h2 id='definitions'>{_e(L.t(lang, 'definitions'))}</h2>"
        f"<details><summary>{_e(L.t(lang, 'definitions'))}</summary><dl class='defs'>{items}</dl></details>"
    )


def render_html(report: WeeklyReport, chart_png: bytes | None = None) -> str:
    """Return the report as a self-contained HTML document (the chart is rendered unless given)."""
    lang = L.lang_of(report.language)
    if chart_png is not None:  # one given chart, both panels in it
        charts = [(chart_png, f"{journey_alt(report)}. {trend_alt(report)}")]
    else:
        charts = [
            (render_chart(report, panel="journey", width=PANEL_WIDTH), journey_alt(report)),
            (render_chart(report, panel="trend", width=PANEL_WIDTH), trend_alt(report)),
        ]
    images = "".join(
        f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        for png, alt in charts
    )
    last_day = (report.period_end - timedelta(days=1)).date()
    title = f"{L.t(lang, 'title')} — {report.week}"
    sub = (
        f"{L.day(report.period_start.date(), lang)} – {L.day(last_day, lang)} ({report.timezone}) · "
        f"{report.total_answers} {L.t(lang, 'answers')}"
    )
    parts = [
        f'<!DOCTYPE html><html lang="{_e(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1><p class='sub'>{_e(sub)}</p>",
        _journey(report, lang),
        _stage_themes(report, lang),
        images,
        _funnel(report, lang),
        _themes(report, lang),
        _verbatims(report, lang),
        _escalations(report, lang),
        _segments(report, lang),
        _definitions(report, lang),
        "</main></body></html>",
    ]
    return "\n".join(parts)
