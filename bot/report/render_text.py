"""The weekly summary as Telegram messages (HTML parse mode), each within Telegram's 4096 limit."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from bot.report import labels as L
from flows.report import FunnelFigures, MetricCell, Normalisation, StageFigures, WeeklyReport
from flows.stats import Change

#: Telegram's limit on a message's text, in UTF-16 code units.
TELEGRAM_LIMIT = 4096
QUOTE_CHARS = 300


def _e(text: str) -> str:
    return escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Return the length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _cell_text(cell: MetricCell, lang: str, min_n: int, how: Normalisation) -> str:
    if cell.n == 0:
        return L.t(lang, "no_answers")
    if cell.hidden or cell.headline is None:
        return f"{L.t(lang, 'hidden', n=min_n)} (n={cell.n})"
    text = f"{L.headline(cell.metric, cell.headline, lang)}"
    common = cell.normalised(how)
    if common is not None and common.value is not None:
        text += f" · {L.common(how, common, lang, interval=False)}"
    return text + f" · n={cell.n}"


def _change_text(stage: StageFigures, change: Change, key: str, lang: str) -> str | None:
    if change.delta is None:
        return None
    verdict = L.t(lang, "sig") if change.significant else L.t(lang, "ns")
    return f"{L.t(lang, key)} {L.delta(stage.metric, change.delta, lang)} ({verdict})"


def _journey(report: WeeklyReport, lang: str) -> list[str]:
    lines = [f"<b>{_e(L.t(lang, 'journey'))}</b>", f"<i>{_e(L.t(lang, 'note_' + report.normalisation))}</i>"]
    weakest = report.weakest_stage
    for stage in report.stages:
        mark = " ⚠️" if weakest and (weakest.stage, weakest.metric) == (stage.stage, stage.metric) else ""
        lines.append(
            f"{stage.position + 1}. <b>{_e(stage.label)}</b> · {L.metric_name(stage.metric)} "
            f"{_e(_cell_text(stage.this_week, lang, report.min_n, report.normalisation))}{mark}"
        )
        extra = L.details(stage.this_week, lang)
        if extra:
            lines.append("    " + _e(extra))
        changes = [
            c
            for c in (
                _change_text(stage, stage.change_week, "vs_last_week", lang),
                _change_text(stage, stage.change_4w, "vs_prev_4w", lang),
            )
            if c
        ]
        rolling = stage.rolling_4w
        if not rolling.hidden and rolling.headline is not None:
            value = L.headline(stage.metric, rolling.headline, lang)
            changes.append(f"{L.t(lang, 'rolling_4w')} {value}, n={rolling.n}")
        if changes:
            lines.append("    " + _e(" · ".join(changes)))
    lines.append("")
    if weakest is None:
        lines.append(_e(L.t(lang, "weakest_none")))
    else:
        runner = next(
            (s.label for s in report.stages if s.stage == weakest.runner_up), weakest.runner_up or ""
        )
        verdict = L.t(lang, "weakest_clear" if weakest.clear else "weakest_unclear", other=runner)
        basis = f" — {L.t(lang, 'weakest_basis_rolling')}" if weakest.basis == "rolling_4w" else ""
        lines.append(
            f"⚠️ <b>{_e(L.t(lang, 'weakest'))}: {_e(weakest.label)}</b> — "
            f"{_e(L.common(report.normalisation, weakest.value, lang))} · {_e(verdict)}{_e(basis)}"
        )
    return lines


def funnel_line(f: FunnelFigures, lang: str) -> str:
    """Return one funnel as a line of text (not escaped)."""
    parts = [
        f"{L.t(lang, 'due')} {f.due}",
        f"{L.t(lang, 'sent')} {f.sent}",
        f"{L.t(lang, 'delivered')} {f.delivered}",
        f"{L.t(lang, 'answered')} {f.answered}",
        f"{L.t(lang, 'response_rate')} {L.pct(f.response_rate, lang)}",
        f"{L.t(lang, 'comment_rate')} {L.pct(f.comment_rate, lang)}",
        f"{L.t(lang, 'responses')} {f.responses}",
        f"{L.t(lang, 'reasked')} {f.reasked}",
        f"{L.t(lang, 'opted_out')} {f.opted_out}",
        f"{L.t(lang, 'unreachable')} {f.unreachable}",
        f"{L.t(lang, 'sent_late')} {f.sent_late}",
    ]
    return " · ".join(parts)


def funnel_breakdown(f: FunnelFigures, lang: str) -> list[str]:
    """Return how the funnel's rows add up (or by how much they do not), as lines of text (not escaped).

    due = sent that week + sent later + unreachable (by reason) + cancelled + still waiting;
    sent = of which due that week + sent late.
    """
    reasons = ", ".join(f"{L.t(lang, 'why_' + why)} {n}" for why, n in f.unreachable_by_reason.items() if n)
    unreachable = f"{L.t(lang, 'unreachable')} {f.unreachable}" + (f" ({reasons})" if reasons else "")
    due = (
        f"{L.t(lang, 'due')} {f.due} = {L.t(lang, 'due_sent')} {f.due_sent} + "
        f"{L.t(lang, 'due_sent_later')} {f.due_sent_later} + {unreachable} + "
        f"{L.t(lang, 'due_cancelled')} {f.due_cancelled} + {L.t(lang, 'due_pending')} {max(f.due_pending, 0)}"
    )
    if f.due_pending < 0:
        due += f" ({L.t(lang, 'not_adding_up', n=-f.due_pending)})"
    on_time = f.sent - f.sent_late
    sent = (
        f"{L.t(lang, 'sent')} {f.sent} = {L.t(lang, 'sent_split')} {on_time} + "
        f"{L.t(lang, 'sent_late')} {f.sent_late}"
    )
    if on_time != f.due_sent:
        sent += f" ({L.t(lang, 'not_adding_up', n=abs(on_time - f.due_sent))})"
    return [due, sent, L.t(lang, "cohort_note")]


def _short_funnel(f: FunnelFigures, lang: str) -> str:
    return f"{L.pct(f.response_rate, lang)} ({f.answered}/{f.delivered})"


def _funnel(report: WeeklyReport, lang: str) -> list[str]:
    f = report.funnel
    lines = [f"<b>{_e(L.t(lang, 'funnel'))}</b>", _e(funnel_line(f.overall, lang))]
    lines += [f"<i>{_e(line)}</i>" for line in funnel_breakdown(f.overall, lang)]
    if f.response_rate_change is not None:
        change = L.num(f.response_rate_change, lang, signed=True)
        lines.append(
            _e(f"{L.t(lang, 'response_rate')} {L.t(lang, 'vs_last_week')}: {change} {L.t(lang, 'points')}")
        )
    for key, group in (("by_channel", f.by_channel), ("by_language", f.by_language)):
        if group:
            items = " · ".join(f"{name} {_short_funnel(v, lang)}" for name, v in group.items())
            lines.append(_e(f"{L.t(lang, key)}: {items}"))
    if f.by_stage:
        labels = {s.stage: s.label for s in report.stages}
        items = " · ".join(f"{labels.get(k, k)} {_short_funnel(v, lang)}" for k, v in f.by_stage.items())
        lines.append(_e(f"{L.t(lang, 'by_stage')}: {items}"))
    return lines


def _themes(report: WeeklyReport, lang: str) -> list[str]:
    lines = [f"<b>{_e(L.t(lang, 'themes'))}</b>"]
    if not report.themes:
        return [*lines, _e(L.t(lang, "no_themes"))]
    for theme in report.themes:
        change = L.num(theme.change, lang, signed=True)
        lines.append(f"• {_e(L.topic(lang, theme.topic))}: <b>{theme.count}</b> ({_e(change)})")
    return lines


def _stage_themes(report: WeeklyReport, lang: str) -> list[str]:
    """Per stage, what hurts next to what works (one line each)."""
    lines = [f"<b>{_e(L.t(lang, 'stage_themes'))}</b>"]
    if not report.stage_themes:
        return [*lines, _e(L.t(lang, "no_stage_themes"))]
    none = L.t(lang, "none")
    for entry in report.stage_themes:
        hurts = ", ".join(L.theme(lang, t) for t in entry.struggles) or none
        works = ", ".join(L.theme(lang, t) for t in entry.works) or none
        lines.append(f"• <b>{_e(entry.label)}</b> — 👎 {_e(hurts)} · 👍 {_e(works)}")
    return lines


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1].rstrip() + "…"


def _verbatims(report: WeeklyReport, lang: str) -> list[str]:
    lines = [f"<b>{_e(L.t(lang, 'verbatims'))}</b>"]
    if not report.verbatims:
        return [*lines, _e(L.t(lang, "no_verbatims"))]
    for q in report.verbatims:
        icon = "👎" if q.sentiment.value == "negative" else "👍"
        lines.append(
            f"{icon} {_e(q.label)} · {L.metric_name(q.metric)} {q.score} · {_e(q.language)}: "
            f"<i>«{_e(_quote(q.text))}»</i>"
        )
    return lines


def _escalations(report: WeeklyReport, lang: str) -> list[str]:
    x = report.escalations
    lines = [
        f"<b>{_e(L.t(lang, 'escalations'))}</b>",
        _e(
            f"{L.t(lang, 'opened')} {x.opened} ({L.t(lang, 'last_week')} {x.opened_last_week}) · "
            f"{L.t(lang, 'taken')} {x.taken} · {L.t(lang, 'resolved')} {x.resolved} · "
            f"{L.t(lang, 'overdue')} {x.overdue}"
        ),
        _e(
            f"{L.t(lang, 'median_take')} {L.hours(x.median_take_hours, lang)} · "
            f"{L.t(lang, 'median_resolve')} {L.hours(x.median_resolve_hours, lang)} · "
            f"{L.t(lang, 'within_sla')} {L.pct(x.within_sla_pct, lang)}"
        ),
    ]
    if x.closing:
        items = " · ".join(f"{L.closing(lang, k)} {v}" for k, v in x.closing.items())
        lines.append(_e(f"{L.t(lang, 'closing')}: {items}"))
    if x.detractors_closed:
        lines.append(
            _e(
                f"{L.t(lang, 'recovery')}: {x.detractors_recovered}/{x.detractors_closed} "
                f"({L.pct(x.recovery_rate, lang)})"
            )
        )
    labels = {s.stage: s.label for s in report.stages}
    for item in x.overdue_items[:10]:
        since = L.day(item.opened_at.astimezone(report.period_start.tzinfo).date(), lang)
        lines.append(
            _e(f"⏰ {L.t(lang, 'overdue_list')}: {item.ref} · {labels.get(item.stage, item.stage)} · ")
            + f"{_e(item.priority)} · {_e(L.t(lang, 'since'))} {_e(since)}"
        )
    shown = min(10, len(x.overdue_items))
    if x.overdue > shown:
        lines.append(f"… +{x.overdue - shown}")
    return lines


def _segments(report: WeeklyReport, lang: str) -> list[str]:
    lines = [f"<b>{_e(L.t(lang, 'segments'))}</b>"]
    for stage in report.stages:
        cells = [(L.language_name(lang, k), c) for k, c in stage.by_language.items()]
        cells += [(k, c) for k, c in stage.by_channel.items()]
        if not any(c.n for _, c in cells):
            continue
        parts = []
        for name, cell in cells:
            if cell.hidden or cell.headline is None:
                parts.append(f"{name} n={cell.n} (<{report.min_n})")
            else:
                parts.append(f"{name} {L.headline(stage.metric, cell.headline, lang)} n={cell.n}")
        lines.append(f"{_e(stage.label)} ({L.metric_name(stage.metric)}): " + _e(" · ".join(parts)))
    return lines if len(lines) > 1 else []


def render_lines(report: WeeklyReport) -> list[str]:
    """Return the summary as lines of Telegram HTML (blank lines separate sections)."""
    lang = L.lang_of(report.language)
    last_day = (report.period_end - timedelta(days=1)).date()
    header = [
        f"📊 <b>{_e(L.t(lang, 'title'))} — {_e(report.week)}</b>",
        _e(
            f"{L.day(report.period_start.date(), lang)} – {L.day(last_day, lang)} ({report.timezone}) · "
            f"{report.total_answers} {L.t(lang, 'answers')}"
        ),
    ]
    sections = [
        header,
        _journey(report, lang),
        _stage_themes(report, lang),
        _funnel(report, lang),
        _themes(report, lang),
        _verbatims(report, lang),
        _escalations(report, lang),
        _segments(report, lang),
    ]
    lines: list[str] = []
    for section in sections:
        if section:
            lines.extend([*section, ""])
    return lines[:-1]


def _split_long(line: str, limit: int) -> list[str]:
    """Cut a single over-long line (only plain text gets this long) into pieces within ``limit``."""
    pieces: list[str] = []
    current = ""
    for char in line:
        if utf16_len(current + char) > limit:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current] if current else pieces


def chunk(lines: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pack lines into messages within ``limit`` UTF-16 units, cut at blank lines if possible, else at lines.

    Tags never span lines, so every message is valid HTML on its own.
    """
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line == "":
            blocks.append([])
        else:
            blocks[-1].append(line)
    messages: list[str] = []
    current: list[str] = []

    def size(parts: list[str]) -> int:
        return utf16_len("\n".join(parts))

    def flush() -> None:
        text = "\n".join(current).strip("\n")
        if text:
            messages.append(text)
        current.clear()

    for block in (b for b in blocks if b):
        candidate = [*current, "", *block] if current else list(block)
        if size(candidate) <= limit:
            current[:] = candidate
            continue
        flush()
        if size(block) <= limit:
            current[:] = block
            continue
        for line in block:
            for piece in _split_long(line, limit) if utf16_len(line) > limit else [line]:
                if current and size([*current, piece]) > limit:
                    flush()
                current.append(piece)
    flush()
    return messages


def render_text(report: WeeklyReport, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Return the summary as Telegram HTML messages (parse_mode="HTML"), each within ``limit``."""
    return chunk(render_lines(report), limit)


def render_plain(report: WeeklyReport) -> str:
    """Return the summary as plain text for a terminal: the Telegram messages without their markup."""
    import re
    from html import unescape

    return "\n".join(unescape(re.sub(r"<[^>]+>", "", line)) for line in render_lines(report))
