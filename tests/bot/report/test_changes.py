"""CES changes use Welch's t interval; NPS is shown with its interval's bounds, not a misleading ±."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bot.report.labels import headline
from flows.scales import Metric
from flows.stats import ces_summary, compare, nps_from_counts


def _sample(hist: dict[int, int]) -> np.ndarray:
    return np.repeat(list(hist), list(hist.values())).astype(float)


def test_ces_change_interval_is_welch_t() -> None:
    """A CES week-over-week change has scipy's Welch interval (not 1.96·SE), small samples included."""
    this, last = {1: 2, 3: 1, 5: 3, 7: 4}, {2: 1, 4: 2, 6: 5, 7: 6}
    change = compare(ces_summary(this).mean, ces_summary(last).mean, means=True)
    expected = stats.ttest_ind(_sample(this), _sample(last), equal_var=False).confidence_interval(0.95)
    assert change.low == pytest.approx(expected.low, abs=1e-6)
    assert change.high == pytest.approx(expected.high, abs=1e-6)
    normal = compare(ces_summary(this).mean, ces_summary(last).mean)
    assert normal.low is not None and normal.high is not None
    assert change.low is not None and change.high is not None
    assert (normal.high - normal.low) < (change.high - change.low)  # 1.96 was too narrow


def test_nps_headline_shows_bounds_not_plus_minus() -> None:
    """NPS +32 with an adjusted-Wald interval not centred on it reads "+32, 95% lo…hi"."""
    figure = nps_from_counts({10: 9, 8: 3, 3: 3})  # NPS +40, n = 15
    text = headline(Metric.NPS, figure, "en")
    assert "±" not in text
    low, high = round(figure.low or 0), round(figure.high or 0)
    assert text == f"+40, 95% {low:+d}…{high:+d}".replace("-", "−")
