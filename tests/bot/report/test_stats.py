"""CX metric math checked against CX_METHOD §8 worked examples and hand computations."""

from __future__ import annotations

import math

import pytest

from flows.scales import Metric
from flows.stats import (
    Estimate,
    ces_summary,
    compare,
    csat_summary,
    mean_t,
    median,
    nps_from_counts,
    nps_summary,
    rate,
    scale_position,
    share_positive,
    t_cdf,
    t_quantile,
    wilson,
)


@pytest.mark.parametrize(
    ("n", "moe"), [(20, 32), (30, 27), (50, 21), (100, 15), (200, 11), (400, 8), (1000, 5)]
)
def test_nps_adjusted_wald_matches_method_table(n: int, moe: int) -> None:
    """The adjusted-Wald NPS margin at 50% promoters / 20% detractors matches CX_METHOD §8's table."""
    figure = nps_summary(n // 2, n - n // 2 - n // 5, n // 5)
    assert figure.score == pytest.approx(30.0)
    assert figure.moe is not None
    assert round(figure.moe) == moe


def test_nps_small_sample_by_hand() -> None:
    """NPS of 3 promoters, 1 passive, 1 detractor: score +40, adjusted-Wald interval computed by hand."""
    f = nps_summary(3, 1, 1)
    # p' = 3.75/8, d' = 1.75/8, NPS' = 0.25, Var = (0.6875 − 0.0625)/8 = 0.078125
    assert f.n == 5
    assert f.score == pytest.approx(40.0)
    assert f.variance == pytest.approx(781.25)
    assert f.moe == pytest.approx(1.959964 * math.sqrt(0.078125) * 100, abs=1e-3)
    assert f.low == pytest.approx(25.0 - 54.7826, abs=1e-3)
    assert f.high == pytest.approx(25.0 + 54.7826, abs=1e-3)
    assert (f.promoters, f.passives, f.detractors) == (3, 1, 1)


def test_nps_single_answer() -> None:
    """One promoter gives NPS +100 with a wide adjusted interval (−48.5…+98.5), not a certainty."""
    f = nps_summary(1, 0, 0)
    assert f.score == 100.0
    assert f.moe == pytest.approx(73.4986, abs=1e-3)
    assert f.low == pytest.approx(-48.4986, abs=1e-3)
    assert f.high == pytest.approx(98.4986, abs=1e-3)


def test_nps_empty_has_no_figure() -> None:
    """Without answers the NPS and its interval are None."""
    f = nps_summary(0, 0, 0)
    assert f.n == 0
    assert (f.score, f.low, f.high, f.moe) == (None, None, None, None)


def test_nps_interval_is_clipped_to_scale() -> None:
    """The NPS interval never leaves −100…+100."""
    f = nps_summary(0, 0, 2)
    assert f.score == -100.0
    assert f.low == -100.0
    assert f.high == pytest.approx(24.411, abs=1e-3)  # NPS' = −0.40, Var = 0.108, ±64.41


def test_nps_from_histogram_groups_scores() -> None:
    """A 0–10 histogram is split into detractors 0–6, passives 7–8, promoters 9–10."""
    f = nps_from_counts({0: 1, 6: 2, 7: 1, 8: 1, 9: 2, 10: 3})
    assert (f.promoters, f.passives, f.detractors) == (5, 2, 3)
    assert f.score == pytest.approx(20.0)


@pytest.mark.parametrize(("n", "low", "high"), [(20, 58, 92), (50, 67, 89), (100, 71, 87)])
def test_csat_wilson_matches_method_examples(n: int, low: int, high: int) -> None:
    """Wilson interval at 80% satisfied matches CX_METHOD §8 (n=20 → 58–92%, 50 → 67–89%, 100 → 71–87%)."""
    figure = csat_summary({5: n * 8 // 10, 2: n - n * 8 // 10})
    assert figure.pct.value == pytest.approx(80.0)
    assert (round(figure.pct.low or 0), round(figure.pct.high or 0)) == (low, high)


def test_csat_by_hand() -> None:
    """CSAT of scores 1,3,4,5,5: 60% satisfied (3 is not), mean 3.6 with a t(4) interval clipped at 5."""
    f = csat_summary({1: 1, 3: 1, 4: 1, 5: 2})
    assert f.n == 5
    assert f.pct.value == pytest.approx(60.0)
    assert f.mean.value == pytest.approx(3.6)
    # s² = 11.2/4 = 2.8, SE = √(2.8/5) = 0.748331, t(0.975, 4) = 2.776445
    assert f.mean.moe == pytest.approx(2.776445 * 0.748331, abs=1e-4)
    assert f.mean.low == pytest.approx(3.6 - 2.077690, abs=1e-4)
    assert f.mean.high == 5.0


def test_ces_by_hand() -> None:
    """CES of scores 2,5,5,7: mean 4.75, top-box 75%, t(3) interval on the mean."""
    f = ces_summary({2: 1, 5: 2, 7: 1})
    assert f.mean.value == pytest.approx(4.75)
    assert f.top_box.value == pytest.approx(75.0)
    # s² = 12.75/3 = 4.25, SE = √(4.25/4) = 1.030776, t(0.975, 3) = 3.182446
    assert f.mean.moe == pytest.approx(3.182446 * 1.030776, abs=1e-4)
    assert f.mean.low == pytest.approx(4.75 - 3.280393, abs=1e-4)
    assert f.mean.high == 7.0


def test_ces_single_answer_has_no_interval() -> None:
    """One CES answer gives its score as the mean and no t interval (n − 1 = 0)."""
    f = ces_summary({6: 1})
    assert f.mean.value == 6.0
    assert (f.mean.low, f.mean.high, f.mean.variance) == (None, None, None)
    assert f.top_box.value == 100.0


def test_scores_outside_scale_are_rejected() -> None:
    """A CSAT histogram with a 6 or a CES with a 0 is an error, never silently mixed."""
    with pytest.raises(ValueError, match="outside"):
        csat_summary({6: 1})
    with pytest.raises(ValueError, match="outside"):
        ces_summary({0: 1})


@pytest.mark.parametrize(
    ("df", "q"),
    [
        (1, 12.7062),
        (2, 4.3027),
        (3, 3.1824),
        (5, 2.5706),
        (10, 2.2281),
        (29, 2.0452),
        (100, 1.9840),
        (1e7, 1.9600),
    ],
)
def test_t_quantile_matches_tables(df: float, q: float) -> None:
    """Our Student t 97.5% quantile matches published table values."""
    assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-4)


def test_t_distribution_is_symmetric() -> None:
    """t quantiles are symmetric around 0 and the CDF inverts the quantile."""
    assert t_quantile(0.5, 4) == 0.0
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7))
    assert t_cdf(t_quantile(0.9, 6), 6) == pytest.approx(0.9, abs=1e-9)
    with pytest.raises(ValueError, match="p must"):
        t_quantile(1.0, 3)


def test_wilson_edges() -> None:
    """Wilson stays inside 0–100% at 0 and n successes, and no answers give no figure."""
    none = wilson(0, 10)
    assert none.value == 0.0
    assert none.low == 0.0
    assert (none.high or 0) > 0
    allx = wilson(10, 10)
    assert allx.high == pytest.approx(100.0)
    assert (allx.low or 100) < 100
    assert allx.variance is not None
    assert allx.variance > 0
    assert wilson(0, 0).value is None


def test_compare_by_hand() -> None:
    """A change is significant only when it exceeds 1.96·√(Var₁ + Var₂)."""
    last = Estimate(n=100, value=20.0, variance=125.0)
    big = compare(Estimate(n=100, value=50.0, variance=100.0), last)  # SE_diff 15 → ±29.4
    assert big.delta == pytest.approx(30.0)
    assert big.low == pytest.approx(30.0 - 29.3995, abs=1e-3)
    assert big.significant is True
    small = compare(Estimate(n=100, value=45.0, variance=100.0), last)
    assert small.delta == pytest.approx(25.0)
    assert small.significant is False


def test_compare_missing_side() -> None:
    """Without a value on either side there is no change; without variance it is never significant."""
    assert compare(Estimate(n=0), Estimate(n=5, value=1.0, variance=1.0)).delta is None
    one = compare(Estimate(n=1, value=7.0), Estimate(n=3, value=2.0, variance=0.1))
    assert one.delta == 5.0
    assert one.significant is False


def test_week_on_week_nps_needs_about_30_points_at_50_answers() -> None:
    """At ~50 answers a week the NPS change's 95% half-width is ~30 points (CX_METHOD §8)."""
    a = nps_summary(25, 15, 10)
    change = compare(a, a)
    assert change.high is not None
    assert round(change.high) == 30
    assert change.significant is False


def test_median_and_rate() -> None:
    """Median of odd/even/empty lists and rates with a zero denominator."""
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([]) is None
    assert rate(1, 4) == 25.0
    assert rate(3, 0) is None


def test_common_scales_by_hand() -> None:
    """Share positive uses each metric's positive band; scale position maps the mean to 0–100."""
    assert share_positive(Metric.NPS, {8: 1, 9: 1}).value == pytest.approx(50.0)
    assert share_positive(Metric.CES, {4: 1, 5: 3}).value == pytest.approx(75.0)
    pos = scale_position(Metric.CSAT, {1: 1, 5: 1})
    assert pos.value == pytest.approx(50.0)
    # mean 3, s = 2.828, SE = 2, t(1) = 12.706 → interval clipped to the scale, i.e. 0–100
    assert (pos.low, pos.high) == (0.0, 100.0)
    assert scale_position(Metric.NPS, {10: 2}).value == pytest.approx(100.0)
    assert mean_t({}).value is None
