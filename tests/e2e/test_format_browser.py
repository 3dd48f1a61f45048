"""web/src/format.js in the browser (the repo has no JavaScript test runner): one money format with
a true minus, percents with one decimal, confidence as a percent, words for booleans, times as
HH:MM ET with the weekday when not the server's today, and a profit factor of 0 explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FORMAT_JS = Path(__file__).resolve().parents[2] / "web" / "src" / "format.js"


@pytest.fixture
def fmt(page, base_url: str):  # type: ignore[no-untyped-def]
    """Calls format.js functions by name, in a page that loaded the module from its source."""
    page.route(
        "**/format-under-test.js",
        lambda route: route.fulfill(path=str(FORMAT_JS), content_type="text/javascript"),
    )
    page.goto(f"{base_url}/health-check-page-for-format")  # any page of the origin

    def call(name: str, *args: Any) -> Any:
        return page.evaluate(
            "async ([name, args]) => (await import('/format-under-test.js'))[name](...args)",
            [name, list(args)],
        )

    return call


@pytest.mark.parametrize(
    ("value", "text"),
    [(-1234.56, "−$1,234.56"), (1234.5, "$1,234.50"), ("-370.8", "−$370.80"), (-0.001, "$0.00"), (None, "—")],
)
def test_money_has_one_format_with_a_true_minus(fmt, value: object, text: str) -> None:  # type: ignore[no-untyped-def]
    assert fmt("fmtMoney", value) == text


def test_percents_have_one_decimal_and_confidence_is_a_percent(fmt) -> None:  # type: ignore[no-untyped-def]
    assert fmt("fmtPct", 0.15) == "15.0%"
    assert fmt("fmtPct", -0.0123) == "−1.2%"
    assert fmt("fmtPct", -0.0001) == "0.0%"
    assert fmt("fmtConfidence", 0.8385496639644763) == "83.9%"


def test_booleans_read_as_words_and_a_zero_profit_factor_says_why(fmt) -> None:  # type: ignore[no-untyped-def]
    assert fmt("fmtText", False) == "no"
    assert fmt("fmtText", True) == "yes"
    assert fmt("fmtProfitFactor", 0) == "0.00 (no winning trade)"
    assert fmt("fmtProfitFactor", 1.372) == "1.37"


def test_times_are_new_york_minutes_with_the_weekday_when_not_the_servers_today(fmt, page) -> None:  # type: ignore[no-untyped-def]
    # "Today" is the server's (the demo's simulated clock): Friday 2025-03-14, 11:00 New York.
    page.evaluate("async () => (await import('/format-under-test.js')).setServerNow('2025-03-14T15:00:00Z')")
    assert fmt("fmtTime", "2025-03-14T14:31:42Z") == "10:31 ET"  # today: no seconds, no day
    assert fmt("fmtTime", "2025-03-13T20:05:00Z") == "Thu 16:05 ET"  # this week: the weekday
    assert fmt("fmtTime", "2025-03-07T14:31:00Z") == "Fri Mar 7 09:31 ET"  # a week ago, before DST
    assert fmt("fmtTime", "2024-12-31T15:00:00Z") == "Tue Dec 31 2024 10:00 ET"  # another year
    assert fmt("fmtTime", "2025-03-14T14:31:00Z", {"date": True}) == "Fri Mar 14 10:31 ET"
    assert fmt("fmtTime", "2025-03-15T03:30:00Z") == "23:30 ET"  # Saturday in UTC, still today in New York
