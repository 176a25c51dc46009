"""Public holidays for the sending window, per the customer's country (the ``holidays`` package).

The country comes from the customer's time zone as the event gave it (``Europe/London`` → GB),
so Italian holidays are never applied to a customer in London; a zone without one country
(``UTC``) falls back to the company's. The company's regional extras (a subdivision such as
``MI`` for Milan's Sant'Ambrogio, or extra dates such as a patron saint's day) apply to customers
in the company's country only.

Pure data: the ``holidays`` package computes dates without I/O, and the zone → country table is
the tz database's own ``zone.tab`` (package data, read once, like ``zoneinfo`` reads its zones).
"""

from __future__ import annotations

import contextlib
import zoneinfo
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import holidays as holidays_package

from flows.errors import ConfigError


def _zone_tables() -> list[str]:
    """Return the tz database's zone → country tables: zoneinfo's own directories, then the
    ``tzdata`` package (a dependency, for systems without /usr/share/zoneinfo)."""
    texts = []
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
            break
    with contextlib.suppress(ModuleNotFoundError, FileNotFoundError):
        texts.append(resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8"))
    return texts


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    table: dict[str, str] = {}
    for text in reversed(_zone_tables()):  # the system's table (as zoneinfo uses) wins
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            code, _coordinates, zone, *_ = line.split("\t")
            table[zone] = code
    if not table:  # never guess silently: every customer would get the company's holidays
        raise ConfigError("no time zone table (zone.tab) found: install the tzdata package")
    return table


def country_of_timezone(timezone: str) -> str | None:
    """Return the ISO country code of an IANA time zone (None when the zone is not one country's)."""
    return _zone_countries().get(timezone)


@lru_cache(maxsize=512)
def _national(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    try:
        found = holidays_package.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:
        return frozenset()  # a country the package does not know: no holidays rather than wrong ones
    return frozenset(found)


@dataclass(frozen=True)
class HolidayRules:
    """Whose holidays close the sending window: the customer's country, the company's extras."""

    country: str = "IT"  # the company's country: the default for customers in zones without one
    subdivision: str | None = None  # the company's region/province (holidays' ``subdiv``)
    extra_dates: tuple[tuple[int, int], ...] = ()  # (month, day) closed every year in the company's country

    def country_for(self, timezone: str) -> str:
        """Return the country whose holidays apply to a customer in ``timezone``."""
        return country_of_timezone(timezone) or self.country

    def holidays(self, year: int, timezone: str) -> frozenset[date]:
        """Return the holidays of ``year`` for a customer in ``timezone``."""
        country = self.country_for(timezone)
        if country != self.country:
            return _national(country, None, year)
        return self.company_holidays(year)

    def company_holidays(self, year: int) -> frozenset[date]:
        """Return the company's own closed days of ``year``: its country's and region's, and its extras."""
        extras = {date(year, month, day) for month, day in self.extra_dates}
        return _national(self.country, self.subdivision, year) | extras


def holiday_rules(country: str, subdivision: str | None = None, extra_dates: str = "") -> HolidayRules:
    """Return checked rules from settings-like values (``extra_dates``: ``MM-DD`` comma-separated).

    Raises:
        ConfigError: for an unknown country or subdivision, or a malformed date.
    """
    code = country.strip().upper()
    supported = holidays_package.list_supported_countries()
    if code not in supported:
        raise ConfigError(f"unknown holiday country {country!r} (ISO code such as IT, GB, DE)")
    region = subdivision.strip().upper() if subdivision and subdivision.strip() else None
    if region is not None and region not in supported[code]:
        raise ConfigError(
            f"unknown subdivision {subdivision!r} of {code} (one of {', '.join(supported[code][:12])}…)"
        )
    dates: list[tuple[int, int]] = []
    for part in (p.strip() for p in extra_dates.replace(";", ",").split(",")):
        if not part:
            continue
        try:
            month, day = (int(x) for x in part.split("-"))
            date(2024, month, day)  # a leap year: 02-29 is accepted
        except ValueError:
            raise ConfigError(f"extra holiday {part!r} is not MM-DD") from None
        dates.append((month, day))
    return HolidayRules(country=code, subdivision=region, extra_dates=tuple(dates))
