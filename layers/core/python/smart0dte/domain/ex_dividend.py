"""Ex-dividend dates of the traded ETFs: the config list behind the early-exercise flag.

Our pricing is European; listed options on SPY, QQQ and IWM are American, and an in-the-money call
may be exercised early to capture a dividend. On an ex-dividend date chain analytics flags the
in-the-money calls (``ChainAnalytics.early_exercise_risk``) and contract selection skips them.

THIS LIST MUST BE MAINTAINED. Source each date from the issuer's distribution calendar:
- SPY: State Street (SSGA) "SPDR S&P 500 ETF Trust" distribution schedule (ex-dates on the third
  Friday of March, June, September and December, the quarterly options expiry);
- QQQ: Invesco "QQQ Trust" distribution calendar (ex-dates on the Monday after that third Friday);
- IWM: iShares (BlackRock) "iShares Russell 2000 ETF" distributions (ex-dates mid-quarter-month, no
  fixed weekday).
``CONFIRMED`` holds dates published by the issuer (as reported in public dividend histories);
``PROJECTED`` holds dates derived from the issuer's regular pattern that were not yet confirmed when
this list was written: check them against the issuer's calendar and move them to ``CONFIRMED``. A
missing date means an unflagged ex-dividend day, so add next year's dates when they are announced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from smart0dte.domain.models import Underlying

CONFIRMED: Final[Mapping[Underlying, frozenset[date]]] = {
    Underlying.SPY: frozenset(
        {
            date(2024, 3, 15),
            date(2024, 6, 21),
            date(2024, 9, 20),
            date(2024, 12, 20),
            date(2025, 3, 21),
            date(2025, 6, 20),
        }
    ),
    Underlying.QQQ: frozenset(
        {
            date(2024, 3, 18),
            date(2024, 6, 24),
            date(2024, 9, 23),
            date(2024, 12, 23),
            date(2025, 3, 24),
            date(2025, 6, 23),
        }
    ),
    Underlying.IWM: frozenset(
        {
            date(2024, 6, 11),
            date(2024, 9, 25),
            date(2024, 12, 17),
            date(2025, 3, 18),
            date(2025, 6, 16),
            date(2025, 9, 16),
            date(2025, 12, 16),
        }
    ),
}

PROJECTED: Final[Mapping[Underlying, frozenset[date]]] = {
    # Third Friday of the quarter month; June 19, 2026 is a market holiday (Juneteenth), so the June
    # 2026 ex-date is expected on the Thursday before: verify.
    Underlying.SPY: frozenset(
        {
            date(2025, 9, 19),
            date(2025, 12, 19),
            date(2026, 3, 20),
            date(2026, 6, 18),
            date(2026, 9, 18),
            date(2026, 12, 18),
        }
    ),
    # The Monday after the third Friday.
    Underlying.QQQ: frozenset(
        {
            date(2025, 9, 22),
            date(2025, 12, 22),
            date(2026, 3, 23),
            date(2026, 6, 22),
            date(2026, 9, 21),
            date(2026, 12, 21),
        }
    ),
    # No regular weekday: 2026 dates are not projected; add them from the iShares calendar.
    Underlying.IWM: frozenset(),
}


def default_ex_dividend_dates() -> dict[Underlying, frozenset[date]]:
    """Confirmed and projected ex-dividend dates per underlying: PricingInputs' default."""
    return {u: CONFIRMED.get(u, frozenset()) | PROJECTED.get(u, frozenset()) for u in Underlying}


def validated_ex_dividend_dates(dates: Mapping[Any, Any]) -> dict[Underlying, frozenset[date]]:
    """The mapping as {Underlying: frozenset of dates}, or a ValueError naming the bad entry: keys must
    be known underlyings (an Underlying or its symbol), values collections of ``datetime.date``
    (a string such as "2025-03-21" is refused, not parsed: the config must hold dates)."""
    out: dict[Underlying, frozenset[date]] = {}
    for key, values in dates.items():
        try:
            underlying = key if isinstance(key, Underlying) else Underlying(str(key))
        except ValueError:
            known = ", ".join(u.value for u in Underlying)
            raise ValueError(f"ex_dividend_dates: unknown underlying {key!r} (known: {known})") from None
        if isinstance(values, str | bytes | date) or not hasattr(values, "__iter__"):
            raise ValueError(
                f"ex_dividend_dates[{underlying.value}] must be a collection of dates, got {values!r:.60}"
            )
        checked = []
        for value in values:
            if type(value) is not date:  # a datetime is a date subclass: refuse it too (time zone?)
                raise ValueError(
                    f"ex_dividend_dates[{underlying.value}] must hold datetime.date values, "
                    f"got {type(value).__name__} {value!r:.40}"
                )
            checked.append(value)
        out[underlying] = frozenset(checked)
    return out
