import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.adapters.aws.dynamodb import market as dynamodb_market
from smart0dte.adapters.aws.dynamodb.market import DEFAULT_MARKET_TTL, decode_chain, encode_chain
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.models import (
    Bar,
    ChainSnapshot,
    OptionContract,
    OptionQuote,
    OptionRight,
    Underlying,
)

from .builders import SESSION, T0, all_items


def bar(minute: int, close: float = 560.5) -> Bar:
    return Bar(
        symbol="SPY",
        ts=T0 + timedelta(minutes=minute),
        open=560.1,
        high=561.0,
        low=559.8,
        close=close,
        volume=1234,
    )


def chain(ts: datetime = T0, strikes: int = 120, underlying_price: float = 560.37) -> ChainSnapshot:
    quotes = tuple(
        OptionQuote(
            contract=OptionContract(root="SPY", expiry=SESSION, right=right, strike=500 + k),
            bid=round(0.01 * k, 2),
            ask=round(0.01 * k + 0.03, 2),
            bid_size=10 + k,
            ask_size=20 + k,
        )
        for k in range(strikes)
        for right in OptionRight
    )
    return ChainSnapshot(
        underlying=Underlying.SPY, ts=ts, expiry=SESSION, underlying_price=underlying_price, quotes=quotes
    )


def _epoch_s(ts: datetime) -> str:
    return str(calendar.timegm(ts.utctimetuple()))


def test_bars_are_one_item_per_symbol_minute_and_expire(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.put_bar(bar(1))
    paper.put_bar(bar(0))
    paper.put_bar(bar(1))  # the gateway's replay writes the same minute again

    assert paper.list_bars("SPY", SESSION) == [bar(0), bar(1)]
    items = all_items(dynamodb, aws)["market"]
    assert len(items) == 2
    assert {i["pk"]["S"] for i in items} == {"paper#bar#SPY#2025-03-14"}
    assert sorted(i["expires_at"]["N"] for i in items) == [
        _epoch_s(bar(m).ts + DEFAULT_MARKET_TTL) for m in (0, 1)
    ]
    assert set(items[0]) == {"pk", "sk", "expires_at", "o", "h", "l", "c", "v", "i"}


def test_chain_snapshots_are_one_compact_item_that_expires(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    snapshot = chain()

    paper.put_chain_snapshot(snapshot)

    (item,) = all_items(dynamodb, aws)["market"]
    assert item["expires_at"] == {"N": _epoch_s(T0 + DEFAULT_MARKET_TTL)}
    assert (item["pk"]["S"], item["sk"]["S"]) == ("paper#chain#SPY#2025-03-14", "2025-03-14T14:31:00.000000Z")
    assert len(item["z"]["B"]) < 4_000  # 240 quotes
    assert paper.latest_chain_snapshot(Underlying.SPY, T0) == snapshot


def test_latest_chain_snapshot_is_the_last_one_at_or_before_the_instant(paper: DynamoState) -> None:
    for minute in (0, 1, 2):
        paper.put_chain_snapshot(
            chain(T0 + timedelta(minutes=minute), strikes=3, underlying_price=560 + minute)
        )

    found = paper.latest_chain_snapshot(Underlying.SPY, T0 + timedelta(minutes=1, seconds=30))

    assert found is not None and found.ts == T0 + timedelta(minutes=1)
    assert found.underlying_price == 561
    assert paper.latest_chain_snapshot(Underlying.SPY, T0 - timedelta(seconds=1)) is None
    assert paper.latest_chain_snapshot(Underlying.QQQ, T0 + timedelta(minutes=5)) is None


def test_a_snapshot_too_big_for_one_item_is_refused_and_nothing_is_written(
    paper: DynamoState, aws: Provisioned, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_market, "MAX_ITEM_BYTES", 1_000)

    with pytest.raises(ValueError, match=r"exceeds the DynamoDB item limit of 1000 bytes"):
        paper.put_chain_snapshot(chain())

    assert all_items(dynamodb, aws)["market"] == []


_prices = st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(list(OptionRight)),
            st.integers(min_value=1, max_value=99_999_999),
            _prices,
            _prices,
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=10**6),
        ),
        max_size=30,
    ),
    underlying_price=st.floats(min_value=0.01, max_value=5_000, allow_nan=False),
    micros=st.integers(min_value=0, max_value=10**6 - 1),
)
def test_chain_encoding_is_lossless(
    rows: list[tuple[OptionRight, int, float, float, int, int]], underlying_price: float, micros: int
) -> None:
    ts = datetime(2025, 3, 14, 15, 0, 0, micros, tzinfo=UTC)
    snapshot = ChainSnapshot(
        underlying=Underlying.QQQ,
        ts=ts,
        expiry=date(2025, 3, 14),
        underlying_price=underlying_price,
        quotes=tuple(
            OptionQuote(
                contract=OptionContract(
                    root="QQQ", expiry=date(2025, 3, 14), right=right, strike=milli / 1000
                ),
                bid=bid,
                ask=ask,
                bid_size=bid_size,
                ask_size=ask_size,
            )
            for right, milli, bid, ask, bid_size, ask_size in rows
        ),
    )

    assert decode_chain(Underlying.QQQ, ts, encode_chain(snapshot)) == snapshot
