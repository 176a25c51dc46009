"""The weekly summary as one self-contained HTML page (inline CSS, chart embedded as base64 PNG).

Every piece of text that may come from customers or configuration is escaped.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from html import escape

from bot.report import labels as L
from bot.report.render_chart import render_chart
from flows.report import FunnelFigures, MetricCell, StageFigures, WeeklyReport
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
.weak{background:#fdecec}.weak td:first-child{border-left:4px solid #d62728}
.hidden{color:#8a8a8a;font-style:italic}.sig{font-weight:bold}.ns{color:#5a6878}
.alert{background:#fdecec;border-left:4px solid #d62728;padding:8px 12px;margin:.6em 0}
blockquote{margin:.4em 0;padding:6px 12px;background:#fff;border-left:4px solid #8a8a8a}
blockquote.negative{border-color:#d62728}blockquote.positive{border-color:#2ca02c}
img{display:block;width:100%;max-width:660px;height:auto;margin:0 auto;background:#fff}
.scroll{overflow-x:auto}
@media (max-width:600px){body{font-size:15px}main{padding:8px}th,td{padding:4px 5px}}
"""


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
    head = [
        L.t(lang, "stage"),
        L.t(lang, "metric"),
        L.t(lang, "this_week"),
        "n",
        L.t(lang, "short_" + report.normalisation),
        L.t(lang, "details"),
        L.t(lang, "vs_last_week"),
        L.t(lang, "vs_prev_4w"),
        L.t(lang, "rolling_4w"),
    ]
    rows = []
    w = report.weakest_stage
    for s in report.stages:
        weak = w is not None and (w.stage, w.metric) == (s.stage, s.metric)
        pos = s.this_week.normalised(report.normalisation)
        rolling = _cell(s.rolling_4w, lang, report.min_n)
        rows.append(
            f'<tr class="{"weak" if weak else ""}"><td>{s.position + 1}. {_e(s.label)}</td>'
            f"<td>{_e(L.metric_name(s.metric))}</td><td>{_cell(s.this_week, lang, report.min_n)}</td>"
            f'<td class="num">{s.this_week.n}</td>'
            f'<td class="num">{_e(L.common(report.normalisation, pos, lang)) if pos else ""}</td>'
            f"<td><small>{_e(L.details(s.this_week, lang))}</small></td>"
            f"<td>{_change(s, s.change_week, lang)}</td><td>{_change(s, s.change_4w, lang)}</td>"
            f"<td>{rolling} <small>n={s.rolling_4w.n}</small></td></tr>"
        )
    table = _table(head, rows)
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


def _table(head: list[str], rows: list[str]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(rows)
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _funnel_rows(items: dict[str, FunnelFigures], lang: str) -> list[str]:
    rows = []
    for name, f in items.items():
        cells = [f.due, f.sent, f.delivered, f.answered]
        nums = "".join(f'<td class="num">{v}</td>' for v in cells)
        rates = f'<td class="num">{_e(L.pct(f.response_rate, lang))}</td>'
        rates += f'<td class="num">{f.responses}</td>'
        rates += f'<td class="num">{_e(L.pct(f.comment_rate, lang))}</td>'
        tail = "".join(f'<td class="num">{v}</td>' for v in (f.reasked, f.opted_out, f.unreachable))
        rows.append(f"<tr><td>{_e(name)}</td>{nums}{rates}{tail}</tr>")
    return rows


def _funnel(report: WeeklyReport, lang: str) -> str:
    f = report.funnel
    head = [
        "",
        *(
            L.t(lang, k)
            for k in (
                "due",
                "sent",
                "delivered",
                "answered",
                "response_rate",
                "responses",
                "comment_rate",
                "reasked",
                "opted_out",
                "unreachable",
            )
        ),
    ]
    labels = {s.stage: s.label for s in report.stages}
    rows = _funnel_rows(
        {L.t(lang, "this_week"): f.overall, L.t(lang, "last_week").capitalize(): f.last_week}, lang
    )
    out = [f"<h2>{_e(L.t(lang, 'funnel'))}</h2>", _table(head, rows)]
    groups = (
        ("by_channel", f.by_channel),
        ("by_language", {L.language_name(lang, k): v for k, v in f.by_language.items()}),
        ("by_stage", {labels.get(k, k): v for k, v in f.by_stage.items()}),
    )
    for key, items in groups:
        if items:
            out.append(f"<h3>{_e(L.t(lang, key))}</h3>{_table(head, _funnel_rows(items, lang))}")
    return "".join(out)


def _themes(report: WeeklyReport, lang: str) -> str:
    out = f"<h2>{_e(L.t(lang, 'themes'))}</h2>"
    if not report.themes:
        return out + f"<p>{_e(L.t(lang, 'no_themes'))}</p>"
    rows = [
        f"<tr><td>{_e(L.topic(lang, t.topic))}</td><td class='num'>{t.count}</td>"
        f"<td class='num'>{t.last_week}</td>"
        f"<td class='num'>{_e(L.num(t.change, lang, signed=True))}</td></tr>"
        for t in report.themes
    ]
    return out + _table(["", L.t(lang, "this_week"), L.t(lang, "last_week"), L.t(lang, "change")], rows)


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
        (L.t(lang, "opened"), f"{x.opened} ({L.t(lang, 'last_week')} {x.opened_last_week})"),
        (L.t(lang, "taken"), str(x.taken)),
        (L.t(lang, "resolved"), str(x.resolved)),
        (L.t(lang, "overdue"), str(x.overdue)),
        (L.t(lang, "median_take"), L.hours(x.median_take_hours, lang)),
        (L.t(lang, "median_resolve"), L.hours(x.median_resolve_hours, lang)),
        (L.t(lang, "within_sla"), L.pct(x.within_sla_pct, lang)),
        (
            L.t(lang, "recovery"),
            f"{x.detractors_recovered}/{x.detractors_closed} ({L.pct(x.recovery_rate, lang)})",
        ),
    ]
    if x.closing:
        closing = " · ".join(f"{L.closing(lang, k)} {v}" for k, v in x.closing.items())
        rows.append((L.t(lang, "closing"), closing))
    body = [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows]
    out = f"<h2>{_e(L.t(lang, 'escalations'))}</h2><table><tbody>{''.join(body)}</tbody></table>"
    if x.overdue_items:
        labels = {s.stage: s.label for s in report.stages}
        items = [
            f"<tr><td>{_e(o.ref)}</td><td>{_e(labels.get(o.stage, o.stage))}</td><td>{_e(o.priority)}</td>"
            f"<td>{_e(L.day(o.opened_at.astimezone(report.period_start.tzinfo).date(), lang))}</td></tr>"
            for o in x.overdue_items
        ]
        out += f"<h3>{_e(L.t(lang, 'overdue_list'))}</h3>" + _table(
            ["#", L.t(lang, "stage"), "P", L.t(lang, "since")], items
        )
    return out


def _segments(report: WeeklyReport, lang: str) -> str:
    rows = []
    for s in report.stages:
        segs = [(L.language_name(lang, k), c) for k, c in s.by_language.items()]
        segs += [(k, c) for k, c in s.by_channel.items()]
        for name, cell in segs:
            rows.append(
                f"<tr><td>{_e(s.label)} ({_e(L.metric_name(s.metric))})</td><td>{_e(name)}</td>"
                f"<td>{_cell(cell, lang, report.min_n)}</td><td class='num'>{cell.n}</td></tr>"
            )
    if not rows:
        return ""
    head = [L.t(lang, "stage"), "", L.t(lang, "this_week"), "n"]
    return f"<h2>{_e(L.t(lang, 'segments'))}</h2>" + _table(head, rows)


def render_html(report: WeeklyReport, chart_png: bytes | None = None) -> str:
    """Return the report as a self-contained HTML document (the chart is rendered unless given)."""
    lang = L.lang_of(report.language)
    png = chart_png if chart_png is not None else render_chart(report)
    img = base64.b64encode(png).decode("ascii")
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
        f'<img alt="{_e(L.t(lang, "chart_title_" + report.normalisation))}"',
        f' src="data:image/png;base64,{img}">',
        _funnel(report, lang),
        _themes(report, lang),
        _verbatims(report, lang),
        _escalations(report, lang),
        _segments(report, lang),
        "</main></body></html>",
    ]
    return "\n".join(parts)
