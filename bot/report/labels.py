"""Words and number formats of the weekly summary, in Italian and English."""

from __future__ import annotations

from datetime import date

from flows.report import MetricCell, Theme
from flows.scales import Metric
from flows.stats import Estimate

LANGS = ("en", "it")

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Weekly customer experience summary",
        "answers": "answers",
        "journey": "Journey map",
        "note_scale_position": (
            "Stages compared on one 0–100 scale: the mean score as a share of its scale "
            "(0 = everyone at the bottom, 100 = everyone at the top of NPS 0–10, CSAT 1–5, CES 1–7). "
            "95% intervals in brackets."
        ),
        "note_share_positive": (
            "Stages compared on one 0–100 scale: the share of positive answers "
            "(NPS 9–10, CSAT 4–5, CES 5–7). 95% intervals in brackets."
        ),
        "axis_scale_position": "mean as % of the scale (0 = lowest, 100 = highest score)",
        "axis_share_positive": "% positive answers (NPS 9–10 · CSAT 4–5 · CES 5–7)",
        "chart_title_scale_position": "Journey map — mean score as % of its scale, 95% intervals",
        "chart_title_share_positive": "Journey map — share of positive answers, 95% intervals",
        "chart_trend_scale_position": "Trend — mean as % of scale, 4-week rolling (dots: single weeks)",
        "chart_trend_share_positive": "Trend — % positive, 4-week rolling (dots: single weeks)",
        "short_scale_position": "on the common scale",
        "short_share_positive": "positive",
        "positive": "positive",
        "vs_last_week": "vs last week",
        "vs_prev_4w": "vs previous 4 weeks",
        "rolling_4w": "4-week",
        "ns": "not significant",
        "sig": "significant",
        "hidden": "n < {n}: hidden",
        "no_answers": "no answers",
        "weakest": "Weakest touchpoint",
        "weakest_clear": "clearly below {other}",
        "weakest_unclear": "not clearly below {other} (intervals overlap)",
        "weakest_basis_rolling": "on the last 4 weeks (too few answers this week)",
        "weakest_none": "Not enough answers to name a weakest touchpoint.",
        "funnel": "Response funnel",
        "due": "due",
        "sent": "sent",
        "delivered": "delivered",
        "answered": "answered",
        "responses": "answers received",
        "response_rate": "response rate",
        "comment_rate": "comment rate",
        "reasked": "re-asked",
        "opted_out": "opt-outs",
        "unreachable": "unreachable",
        "sent_late": "sent late",
        "due_sent": "sent that week",
        "due_sent_later": "sent later",
        "due_cancelled": "cancelled",
        "due_pending": "still waiting",
        "why_no_channel": "no channel",
        "why_blocked": "blocked",
        "why_opted_out": "opted out",
        "why_expired": "expired",
        "sent_split": "of which due that week",
        "not_adding_up": "does not add up: {n} unexplained",
        "cohort_note": (
            "answered = this week's delivered surveys answered so far; "
            "answers received = scores that arrived this week"
        ),
        "definitions": "Definitions",
        "by_channel": "By channel",
        "by_language": "By language",
        "by_stage": "By stage",
        "points": "pts",
        "themes": "What customers complain about",
        "no_themes": "No negative comments this week.",
        "stage_themes": "By stage: what hurts and what works",
        "struggles": "What hurts",
        "works": "What works",
        "no_stage_themes": "No topic named at any stage this week.",
        "verbatims": "In their words",
        "no_verbatims": "No comments this week.",
        "escalations": "Closing the loop",
        "opened": "opened",
        "last_week": "last week",
        "taken": "taken",
        "resolved": "resolved",
        "overdue": "overdue",
        "median_take": "median time to take",
        "median_resolve": "median time to resolve",
        "within_sla": "within SLA",
        "closing": "Closing question",
        "recovery": "Detractors recovered",
        "overdue_list": "Overdue",
        "since": "since",
        "segments": "By language and channel",
        "stage": "Stage",
        "metric": "Metric",
        "this_week": "This week",
        "change": "Change",
        "week": "week",
        "continued": "(continued)",
        "mean": "mean",
        "promoters": "promoters",
        "passives": "passives",
        "detractors": "detractors",
        "details": "Details",
        "top_box": "top-box 5–7",
        "satisfied": "satisfied 4–5",
        "hours": "h",
        "none": "—",
        "language_it": "Italian",
        "language_en": "English",
    },
    "it": {
        "title": "Riepilogo settimanale dell'esperienza clienti",
        "answers": "risposte",
        "journey": "Mappa del percorso",
        "note_scale_position": (
            "Tappe confrontate su un'unica scala 0–100: il voto medio in proporzione alla sua scala "
            "(0 = tutti al minimo, 100 = tutti al massimo di NPS 0–10, CSAT 1–5, CES 1–7). "
            "Tra parentesi gli intervalli al 95%."
        ),
        "note_share_positive": (
            "Tappe confrontate su un'unica scala 0–100: la quota di risposte positive "
            "(NPS 9–10, CSAT 4–5, CES 5–7). Tra parentesi gli intervalli al 95%."
        ),
        "axis_scale_position": "media in % della scala (0 = voto minimo, 100 = voto massimo)",
        "axis_share_positive": "% risposte positive (NPS 9–10 · CSAT 4–5 · CES 5–7)",
        "chart_title_scale_position": "Mappa del percorso — voto medio in % della scala, intervalli al 95%",
        "chart_title_share_positive": "Mappa del percorso — quota di risposte positive, intervalli al 95%",
        "chart_trend_scale_position": (
            "Andamento — media in % della scala, 4 settimane mobili (punti: singole settimane)"
        ),
        "chart_trend_share_positive": "Andamento — % positive, 4 settimane mobili (punti: singole settimane)",
        "short_scale_position": "sulla scala comune",
        "short_share_positive": "positive",
        "positive": "positive",
        "vs_last_week": "rispetto alla settimana scorsa",
        "vs_prev_4w": "rispetto alle 4 settimane precedenti",
        "rolling_4w": "4 settimane",
        "ns": "non significativo",
        "sig": "significativo",
        "hidden": "n < {n}: nascosto",
        "no_answers": "nessuna risposta",
        "weakest": "Tappa più debole",
        "weakest_clear": "nettamente sotto {other}",
        "weakest_unclear": "non nettamente sotto {other} (gli intervalli si sovrappongono)",
        "weakest_basis_rolling": "sulle ultime 4 settimane (poche risposte questa settimana)",
        "weakest_none": "Risposte insufficienti per indicare la tappa più debole.",
        "funnel": "Funnel delle risposte",
        "due": "previsti",
        "sent": "inviati",
        "delivered": "consegnati",
        "answered": "con risposta",
        "responses": "risposte ricevute",
        "response_rate": "tasso di risposta",
        "comment_rate": "tasso di commento",
        "reasked": "domande ripetute",
        "opted_out": "disiscrizioni",
        "unreachable": "non raggiungibili",
        "sent_late": "inviati in ritardo",
        "due_sent": "inviati in settimana",
        "due_sent_later": "inviati dopo",
        "due_cancelled": "annullati",
        "due_pending": "ancora in attesa",
        "why_no_channel": "nessun canale",
        "why_blocked": "bot bloccato",
        "why_opted_out": "disiscritti",
        "why_expired": "scaduti",
        "sent_split": "di cui previsti in settimana",
        "not_adding_up": "non torna: {n} non spiegati",
        "cohort_note": (
            "con risposta = sondaggi consegnati questa settimana che hanno già una risposta; "
            "risposte ricevute = voti arrivati questa settimana"
        ),
        "definitions": "Definizioni",
        "by_channel": "Per canale",
        "by_language": "Per lingua",
        "by_stage": "Per tappa",
        "points": "punti",
        "themes": "Di cosa si lamentano i clienti",
        "no_themes": "Nessun commento negativo questa settimana.",
        "stage_themes": "Per tappa: cosa non va e cosa funziona",
        "struggles": "Cosa non va",
        "works": "Cosa funziona",
        "no_stage_themes": "Nessun argomento indicato nelle tappe questa settimana.",
        "verbatims": "Con le loro parole",
        "no_verbatims": "Nessun commento questa settimana.",
        "escalations": "Chiusura del cerchio",
        "opened": "aperte",
        "last_week": "settimana scorsa",
        "taken": "prese in carico",
        "resolved": "risolte",
        "overdue": "in ritardo",
        "median_take": "tempo mediano di presa in carico",
        "median_resolve": "tempo mediano di risoluzione",
        "within_sla": "entro lo SLA",
        "closing": "Domanda di chiusura",
        "recovery": "Detrattori recuperati",
        "overdue_list": "In ritardo",
        "since": "dal",
        "segments": "Per lingua e canale",
        "stage": "Tappa",
        "metric": "Metrica",
        "this_week": "Questa settimana",
        "change": "Variazione",
        "week": "settimana",
        "continued": "(segue)",
        "mean": "media",
        "promoters": "promotori",
        "passives": "passivi",
        "detractors": "detrattori",
        "details": "Dettagli",
        "top_box": "top-box 5–7",
        "satisfied": "soddisfatti 4–5",
        "hours": "h",
        "none": "—",
        "language_it": "italiano",
        "language_en": "inglese",
    },
}

_TOPICS: dict[str, dict[str, str]] = {
    "en": {
        "not_received": "Parcel not received",
        "late_delivery": "Late delivery",
        "delivery": "Delivery / courier",
        "damaged": "Damaged item",
        "wrong_item": "Wrong item",
        "refund": "Refund",
        "product_quality": "Product quality",
        "staff": "Rude or unhelpful staff",
        "support": "Customer service",
        "unresolved": "Issue not solved",
        "price": "Price",
        "website": "Website / checkout",
        "communication": "Updates and tracking",
        "legal": "Legal threats",
        "safety": "Safety",
        "fast_delivery": "Fast delivery",
        "well_packed": "Well packed",
        "as_described": "As described",
        "good_product": "Good product",
        "good_value": "Good value",
        "easy_ordering": "Easy ordering",
        "helpful_staff": "Helpful people",
        "fast_support": "Quick support",
        "issue_solved": "Issue solved",
    },
    "it": {
        "not_received": "Pacco non ricevuto",
        "late_delivery": "Consegna in ritardo",
        "delivery": "Consegna / corriere",
        "damaged": "Articolo danneggiato",
        "wrong_item": "Articolo sbagliato",
        "refund": "Rimborso",
        "product_quality": "Qualità del prodotto",
        "staff": "Personale scortese o poco disponibile",
        "support": "Assistenza clienti",
        "unresolved": "Problema non risolto",
        "price": "Prezzo",
        "website": "Sito / pagamento",
        "communication": "Aggiornamenti e tracciamento",
        "legal": "Minacce legali",
        "safety": "Sicurezza",
        "fast_delivery": "Consegna veloce",
        "well_packed": "Ben imballato",
        "as_described": "Come descritto",
        "good_product": "Prodotto di qualità",
        "good_value": "Buon rapporto qualità-prezzo",
        "easy_ordering": "Acquisto semplice",
        "helpful_staff": "Persone disponibili",
        "fast_support": "Assistenza rapida",
        "issue_solved": "Problema risolto",
    },
}

_CLOSING: dict[str, dict[str, str]] = {
    "en": {
        "yes": "solved",
        "no": "not solved",
        "resolved": "solved",
        "not_resolved": "not solved",
        "no_answer": "no answer",
    },
    "it": {
        "yes": "risolto",
        "no": "non risolto",
        "resolved": "risolto",
        "not_resolved": "non risolto",
        "no_answer": "nessuna risposta",
    },
}

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "it": ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"],
}


def lang_of(language: str) -> str:
    """Return a supported report language (English when unknown)."""
    return language if language in LANGS else "en"


def t(language: str, key: str, **values: object) -> str:
    """Return the text ``key`` in ``language`` with ``values`` filled in."""
    text = _TEXT[lang_of(language)][key]
    return text.format(**values) if values else text


def topic(language: str, name: str) -> str:
    """Return a theme's display name, complaint or praise (the raw name when unknown)."""
    return _TOPICS[lang_of(language)].get(name, name.replace("_", " "))


def theme(language: str, item: Theme) -> str:
    """Format a theme with this week's count and its change: ``Late delivery 3 (+2)``."""
    return f"{topic(language, item.topic)} {item.count} ({num(item.change, language, signed=True)})"


def closing(language: str, name: str) -> str:
    """Return a closing-question outcome's display name."""
    return _CLOSING[lang_of(language)].get(name, name.replace("_", " "))


def language_name(language: str, code: str) -> str:
    """Return the name of a conversation language (``it``/``en``) in the report language."""
    key = f"language_{code}"
    return _TEXT[lang_of(language)].get(key, code)


def metric_name(metric: Metric) -> str:
    """Return the metric's short name (the same in both languages)."""
    return metric.value.upper()


def num(value: float, language: str, digits: int = 0, *, signed: bool = False) -> str:
    """Format a number with the language's decimal separator (``5,6`` in Italian)."""
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if text in {"-0", "+0", "-0.0", "+0.0"} or (signed and float(text) == 0):
        text = f"{0:.{digits}f}"
    text = text.replace("-", "−")
    return text.replace(".", ",") if lang_of(language) == "it" else text


def _digits(metric: Metric) -> int:
    return 1 if metric is Metric.CES else 0


def headline(metric: Metric, estimate: Estimate, language: str) -> str:
    """Format a headline: NPS ``+32, 95% +17…+45``, CSAT ``82% (75–88%)``, CES ``5.6 (5.3–5.9)``."""
    if estimate.value is None:
        return t(language, "none")
    if metric is Metric.NPS:
        # The adjusted-Wald interval is centred on the adjusted NPS, not on the score: "±" would
        # misstate it, so the bounds are shown: "+32, 95% −2…+55".
        text = num(estimate.value, language, signed=True)
        if estimate.low is not None and estimate.high is not None:
            low, high = num(estimate.low, language, signed=True), num(estimate.high, language, signed=True)
            text += f", 95% {low}…{high}"
        return text
    unit = "%" if metric is Metric.CSAT else ""
    digits = _digits(metric)
    text = num(estimate.value, language, digits) + unit
    if estimate.low is not None and estimate.high is not None:
        text += f" ({num(estimate.low, language, digits)}–{num(estimate.high, language, digits)}{unit})"
    return text


def details(cell: MetricCell, language: str) -> str:
    """Return a cell's secondary figures: NPS groups, CSAT mean, CES top-box (empty when hidden)."""
    if cell.nps is not None:
        f = cell.nps
        return (
            f"{t(language, 'promoters')} {f.promoters} · {t(language, 'passives')} {f.passives} · "
            f"{t(language, 'detractors')} {f.detractors}"
        )
    if cell.csat is not None:
        return f"{t(language, 'mean')} {headline(Metric.CES, cell.csat.mean, language)}"
    if cell.ces is not None:
        return f"{t(language, 'top_box')} {pct_ci(cell.ces.top_box, language)}"
    return ""


def pct(value: float | None, language: str) -> str:
    """Format a percentage (0–100) without decimals, ``—`` when missing."""
    return t(language, "none") if value is None else num(value, language) + "%"


def delta(metric: Metric, value: float, language: str) -> str:
    """Format a headline change with its unit (NPS points, CSAT percentage points, CES scale points)."""
    text = num(value, language, _digits(metric), signed=True)
    return text + (f" {t(language, 'points')}" if metric is not Metric.CES else "")


def day(value: date, language: str) -> str:
    """Format a calendar day like ``16 Nov 2026``."""
    return f"{value.day} {_MONTHS[lang_of(language)][value.month - 1]} {value.year}"


def hours(value: float | None, language: str) -> str:
    """Format a duration in hours (``—`` when missing)."""
    if value is None:
        return t(language, "none")
    return num(value, language, 1 if value < 10 else 0) + " " + t(language, "hours")


def pct_ci(estimate: Estimate, language: str) -> str:
    """Format a percentage with its interval: ``71% (63–78%)``."""
    if estimate.value is None:
        return t(language, "none")
    text = pct(estimate.value, language)
    if estimate.low is not None and estimate.high is not None:
        text += f" ({num(estimate.low, language)}–{num(estimate.high, language)}%)"
    return text


def common(how: str, estimate: Estimate | None, language: str, *, interval: bool = True) -> str:
    """Format a value on the journey map's common scale: ``78/100 (74–81)`` or ``62% positive (53–71%)``."""
    if estimate is None or estimate.value is None:
        return t(language, "none")
    unit = "%" if how == "share_positive" else "/100"
    text = num(estimate.value, language) + unit
    if how == "share_positive":
        text += " " + t(language, "short_share_positive")
    if interval and estimate.low is not None and estimate.high is not None:
        tail = "%" if how == "share_positive" else ""
        text += f" ({num(estimate.low, language)}–{num(estimate.high, language)}{tail})"
    return text
