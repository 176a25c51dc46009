# ruff: noqa: E501  (one definition per line reads better than wrapped strings)
"""One-line definitions of every figure of the weekly report (CX_METHOD §2, §3, §7, §8), in it/en.

The JSON report carries them as ``definitions`` (figure name -> line); the HTML report shows them
as hover titles and footnotes. Names are the JSON field names; a figure's parts (``value``,
``low``, ``high``, ``moe``, ``variance``, ``delta``) are defined by their parent's name.
"""

from __future__ import annotations

_EN: dict[str, str] = {
    # sections
    "stages": "The journey map: one entry per measured touchpoint, in journey order.",
    "funnel": "The response funnel of the week (CX_METHOD §7.2): overall, last week, by channel, language, stage.",
    "overall": "Funnel figures of all stages, channels and languages together.",
    "escalations": "Closing the loop (CX_METHOD §7.6): escalations of the week and how they were handled.",
    "week_cell": "The figure of that week alone.",
    # answers and cells
    "total_answers": "Answers with a score received this week (all stages).",
    "n": "Answers with a score the figure is computed from.",
    "hidden": "True when n is below min_n: the figure is not shown, its n is.",
    "min_n": "Smallest n for which a figure is shown (CX_METHOD §7: hide cells with n < 30).",
    "headline": "The stage's metric: NPS, CSAT % or CES mean, with its 95% interval (low…high).",
    "nps": "NPS = % promoters (9–10) − % detractors (0–6), −100…+100; 95% adjusted-Wald interval "
    "(+0.75 to promoters and detractors, +3 to n), centred on the adjusted NPS, not on the score.",
    "csat": "CSAT % = answers 4–5 ÷ answers × 100 (3 is not satisfied), Wilson 95% interval; mean of 1–5 with t interval.",
    "ces": "CES 2.0 = mean of 1–7 with mean ± t·s/√n 95% interval; top-box = % of answers 5–7 (Wilson).",
    "pct": "CSAT %: answers 4–5 ÷ answers × 100, Wilson 95% interval.",
    "mean": "Mean of the scale with a 95% Student t interval.",
    "top_box": "CES top-box: % of answers 5–7, Wilson 95% interval.",
    "promoters": "Answers 9–10 (NPS).",
    "passives": "Answers 7–8 (NPS); they stay in the denominator.",
    "detractors": "Answers 0–6 (NPS).",
    "positive": "Share of answers in the positive band (NPS 9–10, CSAT 4–5, CES 5–7), Wilson 95% interval.",
    "position": "Mean as % of the scale: 100·(mean − lowest)/(highest − lowest), with the mean's t interval.",
    "this_week": "Answers of the report week (Monday–Sunday in the company time zone).",
    "last_week": "Answers of the week before.",
    "rolling_4w": "The 4 weeks ending with the report week, pooled (hidden unless all 4 are covered).",
    "previous_4w": "The 4 weeks before the report week, pooled.",
    "change_week": "This week − last week with a 95% interval; CES: Welch's t interval, "
    "NPS/CSAT: 1.96·√(Var₁ + Var₂); not significant when the interval contains 0.",
    "change_4w": "This week − the 4 weeks before, same interval as change_week.",
    "significant": "True when the change's 95% interval does not contain 0.",
    "distribution": "Answers per score of the raw scale this week.",
    "by_language": "The stage's figure per conversation language (pooled counts).",
    "by_channel": "The stage's figure per channel (pooled counts).",
    "trend": "Per week of the trend: that week's figure and its 4-week rolling figure.",
    "rolling_complete": "True when the inputs cover all 4 weeks of the rolling figure.",
    "weakest_stage": "The stage lowest on the common 0–100 scale (this week, else 4-week), "
    "clear when significantly below the runner-up.",
    "clear": "True when the weakest stage is significantly below the runner-up.",
    # funnel
    "due": "Surveys planned for this week (due time in the week).",
    "due_sent": "Of those due this week, sent this week.",
    "due_sent_later": "Of those due this week, sent in a later week (counted there as sent late).",
    "due_cancelled": "Of those due this week, cancelled by a business event before sending.",
    "due_pending": "Of those due this week, still waiting to go out (quiet hours, caps, a queue). "
    "due = due_sent + due_sent_later + unreachable + due_cancelled + due_pending.",
    "unreachable": "Due this week and never sent, by reason: no channel, blocked, opted out, expired.",
    "unreachable_by_reason": "no_channel: no chat to write to; blocked: the chat blocked the bot; "
    "opted_out: opted out or no consent; expired: could not go out before its deadline.",
    "sent": "Surveys sent this week (sent = due_sent + sent_late).",
    "sent_late": "Sent this week but due in an earlier week (e.g. held by quiet hours).",
    "delivered": "Surveys delivered this week (sent, when the channel has no delivery receipts).",
    "answered": "Of the surveys delivered this week, those answered so far (a cohort; can differ from responses).",
    "responses": "Scores received this week, whatever week their survey was delivered.",
    "commented": "Of this week's responses, those with typed text (a tapped reason chip is not text).",
    "response_rate": "answered ÷ delivered × 100 (CX_METHOD §2).",
    "comment_rate": "commented ÷ responses × 100: responses with typed text (CX_METHOD §2).",
    "reasked": "Replies not understood that got the question again (surveys sent this week).",
    "opted_out": "Customers who opted out of surveys this week.",
    "response_rate_change": "Response rate this week − last week, in points.",
    "by_stage": "Funnel figures per stage.",
    # comments
    "themes": "Complaint topics of this week's negative answers (negative score band or negative words; a reason "
    "chip counts as its topic; praise topics never count here): count, last week, change.",
    "count": "Answers about the topic this week: negative ones for a complaint, any for what works.",
    "stage_themes": "Per stage, this week: what hurts (as in themes) and what works, up to 3 each, most frequent first; "
    "stages with neither are left out.",
    "struggles": "What hurts at the stage: complaint topics of its negative answers this week.",
    "works": "What works at the stage: its answers this week naming a praise topic (fast delivery, well packed, as "
    "described, good product, good value, easy ordering, helpful people, quick support, issue solved), "
    "whatever the score; a reason chip counts as its topic.",
    "change": "count − last week's count.",
    "verbatims": "Up to 3 negative and 2 positive typed comments of the week, most extreme score first, "
    "one per stage first; never a button label.",
    # closing the loop
    "opened": "Escalations opened this week.",
    "opened_last_week": "Escalations opened the week before.",
    "taken": "Escalations taken by an agent this week.",
    "resolved": "Resolutions this week: closing questions asked (a case resolved twice counts twice).",
    "overdue": "Not resolved at the end of the week, SLA already past.",
    "overdue_items": "The overdue escalations (up to 20), oldest first.",
    "median_take_hours": "Median hours from opening to an agent taking it, of those taken this week.",
    "median_resolve_hours": "Median hours from opening to each resolution of this week.",
    "within_sla_pct": "Of the escalations whose SLA fell due this week, % taken by then.",
    "closing": "Answers to this week's closing questions given by the week's end: yes, no, no answer.",
    "detractors_closed": "NPS detractors (0–6) whose escalation was resolved this week: asked the closing question.",
    "detractors_recovered": "Of those, the ones whose last closing answer by the week's end is yes (solved).",
    "recovery_rate": "detractors_recovered ÷ detractors_closed × 100 (CX_METHOD §7), with n = detractors_closed.",
}

_IT: dict[str, str] = {
    "stages": "La mappa del percorso: una voce per tappa misurata, nell'ordine del percorso.",
    "funnel": "Il funnel delle risposte della settimana (CX_METHOD §7.2): totale, settimana prima, per canale, lingua, tappa.",
    "overall": "Valori del funnel di tutte le tappe, canali e lingue insieme.",
    "escalations": "Chiusura del cerchio (CX_METHOD §7.6): segnalazioni della settimana e come sono state gestite.",
    "week_cell": "Il valore della sola settimana.",
    "total_answers": "Risposte con voto ricevute questa settimana (tutte le tappe).",
    "n": "Risposte con voto su cui si calcola il valore.",
    "hidden": "Vero quando n è sotto min_n: il valore non si mostra, n sì.",
    "min_n": "n minimo per mostrare un valore (CX_METHOD §7: celle con n < 30 nascoste).",
    "headline": "La metrica della tappa: NPS, CSAT % o media CES, con intervallo al 95% (min…max).",
    "nps": "NPS = % promotori (9–10) − % detrattori (0–6), −100…+100; intervallo adjusted-Wald al 95% "
    "(+0,75 a promotori e detrattori, +3 a n), centrato sull'NPS aggiustato, non sul punteggio.",
    "csat": "CSAT % = risposte 4–5 ÷ risposte × 100 (3 non è soddisfatto), intervallo di Wilson; media 1–5 con t.",
    "ces": "CES 2.0 = media 1–7, intervallo media ± t·s/√n al 95%; top-box = % risposte 5–7 (Wilson).",
    "pct": "CSAT %: risposte 4–5 ÷ risposte × 100, intervallo di Wilson al 95%.",
    "mean": "Media della scala con intervallo t di Student al 95%.",
    "top_box": "Top-box CES: % risposte 5–7, intervallo di Wilson al 95%.",
    "promoters": "Risposte 9–10 (NPS).",
    "passives": "Risposte 7–8 (NPS); restano al denominatore.",
    "detractors": "Risposte 0–6 (NPS).",
    "positive": "Quota di risposte nella fascia positiva (NPS 9–10, CSAT 4–5, CES 5–7), Wilson al 95%.",
    "position": "Media come % della scala: 100·(media − minimo)/(massimo − minimo), con l'intervallo t.",
    "this_week": "Risposte della settimana del riepilogo (lunedì–domenica, fuso dell'azienda).",
    "last_week": "Risposte della settimana prima.",
    "rolling_4w": "Le 4 settimane che finiscono con questa, insieme (nascosta se non coperte tutte).",
    "previous_4w": "Le 4 settimane prima di questa, insieme.",
    "change_week": "Questa settimana − la precedente con intervallo al 95%; CES: intervallo t di Welch, "
    "NPS/CSAT: 1,96·√(Var₁ + Var₂); non significativa se l'intervallo contiene 0.",
    "change_4w": "Questa settimana − le 4 precedenti, stesso intervallo di change_week.",
    "significant": "Vero quando l'intervallo al 95% della variazione non contiene 0.",
    "distribution": "Risposte per voto della scala questa settimana.",
    "by_language": "Il valore della tappa per lingua della conversazione (conteggi sommati).",
    "by_channel": "Il valore della tappa per canale (conteggi sommati).",
    "trend": "Per settimana: il valore della settimana e quello delle 4 settimane mobili.",
    "rolling_complete": "Vero quando i dati coprono tutte le 4 settimane.",
    "weakest_stage": "La tappa più bassa sulla scala comune 0–100 (settimana, altrimenti 4 settimane), "
    "netta se significativamente sotto la seconda.",
    "clear": "Vero quando la tappa più debole è significativamente sotto la seconda.",
    "due": "Sondaggi previsti per questa settimana.",
    "due_sent": "Dei previsti, inviati questa settimana.",
    "due_sent_later": "Dei previsti, inviati in una settimana successiva (lì contati come in ritardo).",
    "due_cancelled": "Dei previsti, annullati da un evento prima dell'invio.",
    "due_pending": "Dei previsti, ancora in attesa (fasce orarie, limiti, coda). "
    "previsti = inviati + inviati dopo + irraggiungibili + annullati + in attesa.",
    "unreachable": "Previsti e mai inviati, per motivo: nessun canale, bloccato, disiscritto, scaduto.",
    "unreachable_by_reason": "no_channel: nessuna chat; blocked: la chat ha bloccato il bot; "
    "opted_out: disiscrizione o nessun consenso; expired: non inviabile prima della scadenza.",
    "sent": "Sondaggi inviati questa settimana (inviati = previsti e inviati + in ritardo).",
    "sent_late": "Inviati questa settimana ma previsti in una settimana precedente.",
    "delivered": "Sondaggi consegnati questa settimana (inviati, se il canale non conferma la consegna).",
    "answered": "Dei consegnati questa settimana, quelli con risposta finora (una coorte; può differire dalle risposte).",
    "responses": "Voti ricevuti questa settimana, qualunque sia la settimana dell'invio.",
    "commented": "Delle risposte della settimana, quelle con testo scritto (un pulsante di motivo non è testo).",
    "response_rate": "con risposta ÷ consegnati × 100 (CX_METHOD §2).",
    "comment_rate": "commentate ÷ risposte × 100: risposte con testo scritto (CX_METHOD §2).",
    "reasked": "Risposte non capite a cui è stata rifatta la domanda (sondaggi inviati questa settimana).",
    "opted_out": "Clienti che si sono disiscritti questa settimana.",
    "response_rate_change": "Tasso di risposta di questa settimana − la precedente, in punti.",
    "by_stage": "Valori del funnel per tappa.",
    "themes": "Argomenti di lamentela delle risposte negative della settimana (voto in fascia negativa o parole "
    "negative; un motivo scelto conta come il suo argomento; gli apprezzamenti non contano qui): conteggio, "
    "settimana prima, variazione.",
    "count": "Risposte sull'argomento questa settimana: quelle negative per una lamentela, tutte per ciò che funziona.",
    "stage_themes": "Per tappa, questa settimana: cosa non va (come nelle lamentele) e cosa funziona, fino a 3 per "
    "lista, dal più frequente; le tappe senza né l'uno né l'altro non compaiono.",
    "struggles": "Cosa non va nella tappa: argomenti di lamentela delle sue risposte negative della settimana.",
    "works": "Cosa funziona nella tappa: le sue risposte della settimana che nominano un apprezzamento (consegna "
    "veloce, ben imballato, come descritto, prodotto di qualità, buon rapporto qualità-prezzo, ordine facile, "
    "persone disponibili, assistenza rapida, problema risolto), qualunque sia il voto; un motivo scelto conta "
    "come il suo argomento.",
    "change": "conteggio − conteggio della settimana prima.",
    "verbatims": "Fino a 3 commenti scritti negativi e 2 positivi, voto più estremo prima, una tappa "
    "alla volta; mai l'etichetta di un pulsante.",
    "opened": "Segnalazioni aperte questa settimana.",
    "opened_last_week": "Segnalazioni aperte la settimana prima.",
    "taken": "Segnalazioni prese in carico questa settimana.",
    "resolved": "Risoluzioni della settimana: domande di chiusura poste (un caso risolto due volte conta due).",
    "overdue": "Non risolte a fine settimana, SLA già scaduto.",
    "overdue_items": "Le segnalazioni scadute (fino a 20), dalla più vecchia.",
    "median_take_hours": "Ore mediane dall'apertura alla presa in carico, per quelle prese questa settimana.",
    "median_resolve_hours": "Ore mediane dall'apertura a ciascuna risoluzione della settimana.",
    "within_sla_pct": "Delle segnalazioni con SLA in scadenza questa settimana, % prese in tempo.",
    "closing": "Risposte alle domande di chiusura della settimana date entro fine settimana: sì, no, nessuna.",
    "detractors_closed": "Detrattori NPS (0–6) la cui segnalazione è stata risolta: hanno avuto la domanda di chiusura.",
    "detractors_recovered": "Di questi, quelli la cui ultima risposta entro fine settimana è sì (risolto).",
    "recovery_rate": "detrattori recuperati ÷ detrattori interpellati × 100 (CX_METHOD §7), n = interpellati.",
}

DEFINITIONS: dict[str, dict[str, str]] = {"en": _EN, "it": _IT}


def definitions(language: str) -> dict[str, str]:
    """Return the figure definitions in ``language`` (English when not it/en)."""
    return dict(DEFINITIONS.get(language, _EN))
