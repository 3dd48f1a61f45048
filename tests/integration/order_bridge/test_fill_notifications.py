"""The order bridge announces each broker fill it records first, once, at the fill level of its
mode's settings; a fill synced again, or by a restarted bridge, is not announced again."""

from __future__ import annotations

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.services.notifications import Notifications
from smart0dte.services.order_bridge import OrderBridge

from ...fake_channels import BrokenChannel, RecordingChannel
from .conftest import record
from .fakes import T0, FakeBroker, FakeClock, FakeReceiver, make_intent, message


def test_each_recorded_fill_is_announced_once_quietly_by_default(live: DynamoState) -> None:
    intent = make_intent(quantity=2)
    stored = record(live, intent)
    broker, channel = FakeBroker(), RecordingChannel()
    notifications = Notifications(
        live.mode, lambda: [BrokenChannel(), channel], lambda: live.get_settings().notifications
    )
    bridge = OrderBridge(
        broker, live, FakeReceiver([message(intent)]), FakeClock(), notifications=notifications
    )
    bridge.process()
    broker.fill(intent.intent_id, 1, "1.20", seconds=10)
    broker.fill(intent.intent_id, 1, "1.30", seconds=20)

    first = bridge.sync_fills(T0)
    bridge.sync_fills(T0)
    OrderBridge(broker, live, FakeReceiver(), FakeClock(), notifications=notifications).sync_fills(T0)

    assert first.recorded == 2
    contract = " ".join(intent.contract.occ_symbol.split())
    assert [(m.subject, m.quiet) for m in channel.messages] == [
        (f"Smart 0DTE live: BUY 1 {contract} @ 1.20", True),
        (f"Smart 0DTE live: BUY 1 {contract} @ 1.30", True),
    ]
    assert all(f"(order {stored.value.order_id}," in m.text for m in channel.messages)
    assert notifications.failures == 2  # the broken channel, once per fill: the bridge went on
