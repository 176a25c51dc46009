"""CX metrics math for the weekly summary (CX_METHOD §2, §8): pure functions, no I/O.

Every figure is computed from pooled counts (a score histogram), never from averaged segment
scores. Units: NPS in points (−100…+100), percentages in 0–100, means in scale units. Each
estimate carries its variance (in the same units, squared) so two independent estimates can be
compared with SE_diff = √(Var₁ + Var₂).

Intervals (95 %):
- NPS: adjusted-Wald (add 0.75 to promoters and detractors and 3 to n, Rocks 2016); the
  interval is centred on the adjusted NPS, the reported score is the plain one.
- Percentages (CSAT %, CES top-box, share positive): Wilson score interval.
- Means (CSAT mean, CES): mean ± t(0.975, n−1)·s/√n, with our own Student t quantile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict

from flows.scales import Metric, Sentiment, sentiment

#: Two-sided 95 % normal quantile.
Z95: float = NormalDist().inv_cdf(0.975)


class Estimate(BaseModel):
    """One estimated figure with its 95 % interval; ``value`` is None when there is no data."""

    model_config = ConfigDict(frozen=True)

    n: int
    value: float | None = None
    low: float | None = None
    high: float | None = None
    moe: float | None = None
    variance: float | None = None


class NpsFigure(Estimate):
    """NPS of a set of answers: ``value`` is the score, plus the three group counts."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def score(self) -> float | None:
        """Return the NPS (−100…+100), None without answers."""
        return self.value


class CsatFigure(BaseModel):
    """CSAT of a set of answers: % satisfied (4–5, Wilson CI) and the mean (t CI)."""

    model_config = ConfigDict(frozen=True)

    n: int
    pct: Estimate
    mean: Estimate


class CesFigure(BaseModel):
    """CES 2.0 of a set of answers: the 1–7 mean (t CI) and top-box % (5–7, Wilson CI)."""

    model_config = ConfigDict(frozen=True)

    n: int
    mean: Estimate
    top_box: Estimate


class Change(BaseModel):
    """The difference ``this − last`` of two independent estimates, with its 95 % interval."""

    model_config = ConfigDict(frozen=True)

    delta: float | None = None
    low: float | None = None
    high: float | None = None
    significant: bool = False


# ---------------------------------------------------------------------------------------------
# Student t distribution


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Return P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """Return the ``p`` quantile of Student's t with ``df`` degrees of freedom.

    Closed forms for 1 and 2 degrees of freedom; otherwise Newton's method on our CDF from a
    Cornish–Fisher start, with bisection as the safety net. Results are cached.

    Raises:
        ValueError: when p is not in (0, 1) or df is not positive.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    t = (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )
    for _ in range(50):
        step = (t_cdf(t, df) - p) / _t_pdf(t, df)
        t -= step
        if abs(step) < 1e-12 * max(1.0, abs(t)):
            return t
    lo, hi = 0.0, 2.0  # pragma: no cover - Newton converges for every df ≥ 3 in practice
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


# ---------------------------------------------------------------------------------------------
# Small helpers


def median(values: Iterable[float]) -> float | None:
    """Return the median of ``values`` (mean of the two middle ones for an even count), None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def rate(numerator: int, denominator: int) -> float | None:
    """Return ``numerator ÷ denominator`` as a percentage (0–100), None when the denominator is 0."""
    if denominator <= 0:
        return None
    return 100.0 * numerator / denominator


def _clip(x: float, low: float, high: float) -> float:
    return max(low, min(high, x))


def _check_counts(counts: Mapping[int, int], metric: Metric) -> None:
    for score, count in counts.items():
        if not metric.in_range(score):
            raise ValueError(f"score {score} is outside the {metric.value} scale")
        if count < 0:
            raise ValueError(f"negative count for score {score}")


# ---------------------------------------------------------------------------------------------
# Estimators


def wilson(successes: int, n: int) -> Estimate:
    """Return a percentage (0–100) with its Wilson 95 % interval.

    The variance (in %², for comparisons) is the Agresti–Coull one, p̃(1−p̃)/(n + z²) with
    p̃ = (x + z²/2)/(n + z²), so that 0 % or 100 % of a few answers is not taken as certain.
    """
    if successes < 0 or successes > n:
        raise ValueError("successes must be between 0 and n")
    if n == 0:
        return Estimate(n=0)
    p = successes / n
    z2 = Z95 * Z95
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    p_tilde = (successes + z2 / 2) / (n + z2)
    return Estimate(
        n=n,
        value=100.0 * p,
        low=100.0 * low,
        high=100.0 * high,
        moe=100.0 * half,
        variance=10_000.0 * p_tilde * (1 - p_tilde) / (n + z2),
    )


def mean_t(counts: Mapping[int, int], bounds: tuple[float, float] | None = None) -> Estimate:
    """Return the mean of a score histogram with its 95 % t interval (no interval when n < 2).

    ``bounds`` (the scale's ends) clip the interval, not the margin of error.
    """
    n = sum(counts.values())
    if n == 0:
        return Estimate(n=0)
    total = sum(score * count for score, count in counts.items())
    mean = total / n
    if n < 2:
        return Estimate(n=n, value=mean)
    ss = sum(count * (score - mean) ** 2 for score, count in counts.items())
    var_sample = ss / (n - 1)
    var_mean = var_sample / n
    moe = t_quantile(0.975, n - 1) * math.sqrt(var_mean)
    low, high = mean - moe, mean + moe
    if bounds is not None:
        low, high = _clip(low, *bounds), _clip(high, *bounds)
    return Estimate(n=n, value=mean, low=low, high=high, moe=moe, variance=var_mean)


def nps_summary(promoters: int, passives: int, detractors: int) -> NpsFigure:
    """Return the NPS with its adjusted-Wald 95 % interval (CX_METHOD §8).

    p' = (P + 0.75)/(n + 3), d' = (D + 0.75)/(n + 3), Var = [p' + d' − (p' − d')²]/(n + 3);
    the interval is (p' − d') ± 1.96·√Var, in points, clipped to −100…+100.
    """
    if min(promoters, passives, detractors) < 0:
        raise ValueError("counts must not be negative")
    n = promoters + passives + detractors
    if n == 0:
        return NpsFigure(n=0)
    score = 100.0 * (promoters - detractors) / n
    n_adj = n + 3.0
    p_adj = (promoters + 0.75) / n_adj
    d_adj = (detractors + 0.75) / n_adj
    nps_adj = p_adj - d_adj
    var = (p_adj + d_adj - nps_adj**2) / n_adj
    moe = Z95 * math.sqrt(var)
    return NpsFigure(
        n=n,
        value=score,
        low=100.0 * _clip(nps_adj - moe, -1.0, 1.0),
        high=100.0 * _clip(nps_adj + moe, -1.0, 1.0),
        moe=100.0 * moe,
        variance=10_000.0 * var,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
    )


def nps_from_counts(counts: Mapping[int, int]) -> NpsFigure:
    """Return the NPS of a 0–10 score histogram."""
    _check_counts(counts, Metric.NPS)
    promoters = sum(c for s, c in counts.items() if s >= 9)
    detractors = sum(c for s, c in counts.items() if s <= 6)
    passives = sum(c for s, c in counts.items() if 7 <= s <= 8)
    return nps_summary(promoters, passives, detractors)


def csat_summary(counts_by_score: Mapping[int, int]) -> CsatFigure:
    """Return CSAT % (answers 4–5 ÷ valid answers, Wilson CI) and the 1–5 mean (t CI)."""
    _check_counts(counts_by_score, Metric.CSAT)
    n = sum(counts_by_score.values())
    satisfied = sum(c for s, c in counts_by_score.items() if s >= 4)
    return CsatFigure(n=n, pct=wilson(satisfied, n), mean=mean_t(counts_by_score, (1.0, 5.0)))


def ces_summary(counts_by_score: Mapping[int, int]) -> CesFigure:
    """Return the CES 2.0 mean (1–7, t CI) and top-box % (answers 5–7, Wilson CI)."""
    _check_counts(counts_by_score, Metric.CES)
    n = sum(counts_by_score.values())
    top = sum(c for s, c in counts_by_score.items() if s >= 5)
    return CesFigure(n=n, mean=mean_t(counts_by_score, (1.0, 7.0)), top_box=wilson(top, n))


def share_positive(metric: Metric, counts_by_score: Mapping[int, int]) -> Estimate:
    """Return the % of answers in the positive band (CX_METHOD §3), a 0–100 scale common to all metrics.

    NPS: promoters 9–10; CSAT: 4–5; CES 2.0: 5–7. Wilson 95 % interval.
    """
    _check_counts(counts_by_score, metric)
    n = sum(counts_by_score.values())
    positive = sum(c for s, c in counts_by_score.items() if sentiment(metric, s) is Sentiment.POSITIVE)
    return wilson(positive, n)


def scale_position(metric: Metric, counts_by_score: Mapping[int, int]) -> Estimate:
    """Return the mean as a percentage of the scale (POMP): 100·(mean − lowest)/(highest − lowest).

    A linear map of the mean with its t interval, so NPS 0–10, CSAT 1–5 and CES 1–7 share one
    0–100 axis where 0 is everyone at the bottom of the scale and 100 everyone at the top.
    """
    _check_counts(counts_by_score, metric)
    mean = mean_t(counts_by_score, (float(metric.low), float(metric.high)))
    if mean.value is None:
        return mean
    span = float(metric.high - metric.low)

    def pos(x: float | None) -> float | None:
        return None if x is None else 100.0 * (x - metric.low) / span

    return Estimate(
        n=mean.n,
        value=pos(mean.value),
        low=pos(mean.low),
        high=pos(mean.high),
        moe=None if mean.moe is None else 100.0 * mean.moe / span,
        variance=None if mean.variance is None else mean.variance * (100.0 / span) ** 2,
    )


def welch_df(this: Estimate, last: Estimate) -> float:
    """Return the Welch–Satterthwaite degrees of freedom of the difference of two means.

    ``variance`` of a mean estimate is s²/n, so df = (v₁ + v₂)² / (v₁²/(n₁ − 1) + v₂²/(n₂ − 1)).
    """
    v1, v2 = this.variance or 0.0, last.variance or 0.0
    denominator = v1 * v1 / (this.n - 1) + v2 * v2 / (last.n - 1)
    if denominator <= 0.0:
        return float(this.n + last.n - 2)  # both samples constant: no spread to weigh
    return (v1 + v2) ** 2 / denominator


def compare(this: Estimate, last: Estimate, *, means: bool = False) -> Change:
    """Return ``this − last`` with a 95 % interval from SE_diff = √(Var₁ + Var₂).

    ``means``: the estimates are means (CES, the journey map's scale position); the interval
    is Welch's, t(0.975, Welch–Satterthwaite df)·SE_diff (CX_METHOD §8), else 1.96·SE_diff.
    A change whose interval contains 0 is not significant. Without both values there is no
    change; with a value but no variance (a single answer) the change is never significant.
    """
    if this.value is None or last.value is None:
        return Change()
    delta = this.value - last.value
    if this.variance is None or last.variance is None:
        return Change(delta=delta)
    quantile = Z95
    if means and this.n >= 2 and last.n >= 2:
        quantile = t_quantile(0.975, welch_df(this, last))
    half = quantile * math.sqrt(this.variance + last.variance)
    return Change(delta=delta, low=delta - half, high=delta + half, significant=abs(delta) > half)
