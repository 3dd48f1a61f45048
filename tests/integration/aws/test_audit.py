from datetime import UTC, timedelta
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoAuditLog, DynamoState
from smart0dte.adapters.aws.provisioning import Provisioned
from smart0dte.domain.calendar import NEW_YORK
from smart0dte.domain.models import TradingMode
from smart0dte.ports import AuditRecord, AuditRecordExists

from .builders import SESSION, T0, all_items


def record(minutes: int = 0, reason: str = "stale quotes for 90 s") -> AuditRecord:
    return AuditRecord(
        ts=T0 + timedelta(minutes=minutes),
        mode=TradingMode.PAPER,
        actor="user:alice",
        action="TradingPaused",
        reason=reason,
        details={"quote_age_s": 90, "symbols": ["SPY", "QQQ"]},
    )


def test_appended_records_read_back_in_time_order(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.audit.append(record(minutes=2, reason="second"))
    paper.audit.append(record(minutes=1, reason="first"))

    assert paper.audit.list_day(SESSION) == [record(1, "first"), record(2, "second")]
    (item, _) = all_items(dynamodb, aws)["audit"]
    assert item["pk"]["S"] == "paper#audit#2025-03-14"
    assert item["sk"]["S"].startswith("2025-03-14T14:32:00.000000Z#")


def test_a_second_put_with_the_same_key_is_refused(
    paper: DynamoState, aws: Provisioned, dynamodb: Any
) -> None:
    paper.audit.append(record())

    with pytest.raises(AuditRecordExists, match="already exists"):
        paper.audit.append(record())
    same_instant_other_zone = AuditRecord(
        ts=record().ts.astimezone(NEW_YORK),
        mode=TradingMode.PAPER,
        actor="user:alice",
        action="TradingPaused",
        reason="stale quotes for 90 s",
        details={"symbols": ["SPY", "QQQ"], "quote_age_s": 90},
    )
    with pytest.raises(AuditRecordExists):
        paper.audit.append(same_instant_other_zone)

    assert len(all_items(dynamodb, aws)["audit"]) == 1


def test_the_log_has_no_update_or_delete_path(paper: DynamoState, aws: Provisioned, dynamodb: Any) -> None:
    public = {name for name in dir(DynamoAuditLog) if not name.startswith("__")}
    assert public == {"append", "list_day", "item"}
    assert not [
        n for n in dir(paper.audit) if any(w in n.lower() for w in ("update", "delete", "remove", "put"))
    ]
    paper.audit.append(record())
    item = paper.audit.item(record())

    with pytest.raises(TypeError, match="append-only"):
        item.update(actions=[])
    with pytest.raises(TypeError, match="append-only"):
        item.delete()
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        item.save()  # even the model's own save cannot overwrite
    assert len(all_items(dynamodb, aws)["audit"]) == 1


def test_records_are_partitioned_by_new_york_session_date(paper: DynamoState) -> None:
    late_evening_et = T0.replace(hour=0, minute=30) + timedelta(days=1)  # 20:30 ET on the 14th
    paper.audit.append(
        AuditRecord(
            ts=late_evening_et, mode=TradingMode.PAPER, actor="learning", action="ModelPromoted", reason="ok"
        )
    )

    assert [r.ts.astimezone(UTC) for r in paper.audit.list_day(SESSION)] == [late_evening_et]


def test_bad_records_are_refused_before_writing(paper: DynamoState, aws: Provisioned, dynamodb: Any) -> None:
    with pytest.raises(ValueError, match="details must be JSON-serializable"):
        AuditRecord(ts=T0, mode=TradingMode.PAPER, actor="a", action="b", reason="c", details={"x": object()})
    with pytest.raises(ValueError, match="actor must have 1 to 2000 characters"):
        AuditRecord(ts=T0, mode=TradingMode.PAPER, actor="", action="b", reason="c")
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditRecord(ts=T0.replace(tzinfo=None), mode=TradingMode.PAPER, actor="a", action="b", reason="c")
    with pytest.raises(ValueError, match="mode=live"):
        paper.audit.append(AuditRecord(ts=T0, mode=TradingMode.LIVE, actor="a", action="b", reason="c"))

    assert all_items(dynamodb, aws)["audit"] == []
