"""What the domain and services need from the outside world, as Protocols, one module per aggregate.

Adapters implement them (DBN files, Databento, DynamoDB, S3, SQS, IBKR); tests and the local
runtime inject their own. The state store is the union of its aggregates' stores (`state`:
`controls`, `trading`, `counters`, `market`, with `audit`); the rest are `session`, `broker`,
`intents`, `objects`, `scheduling`, `notify`, `chat` and `clock`, and `records` holds what every store
shares. Every public name is re-exported here: `from smart0dte.ports import X`.
"""

from smart0dte.domain.controls import ControlChange
from smart0dte.ports.api import ApiStore, BacktestRunner
from smart0dte.ports.audit import AuditLog, AuditRecord, AuditRecordExists
from smart0dte.ports.broker import (
    GATEWAY_PORTS,
    HAND_INTENT,
    LIVE_GATEWAY_PORT,
    PAPER_ACCOUNT_PREFIXES,
    PAPER_GATEWAY_PORT,
    BrokerAccount,
    BrokerConnection,
    BrokerOrderAck,
    BrokerPosition,
    LiveBroker,
    account_refusal,
    is_paper_account,
)
from smart0dte.ports.chat import ChatMessenger
from smart0dte.ports.clock import Clock
from smart0dte.ports.controls import (
    ActiveMode,
    ControlRefused,
    ControlsStore,
    ControlState,
    GatewayStatus,
    TradingControls,
)
from smart0dte.ports.counters import CountersStore, DailyCounters
from smart0dte.ports.intents import CommandReceiver, OrderQueue, ReceivedCommand
from smart0dte.ports.market import (
    FolderArchive,
    HistoricalMarketData,
    MarketData,
    MarketReader,
    MarketStore,
    MarketWriter,
)
from smart0dte.ports.notify import Notifier, QuietNotifier
from smart0dte.ports.objects import ObjectNotFound, ObjectStore
from smart0dte.ports.records import (
    ConcurrentUpdate,
    ConflictingRecord,
    RecordNotFound,
    Versioned,
    session_date_of,
)
from smart0dte.ports.scheduling import DeployedSchedule, Scheduler, ScheduleReader
from smart0dte.ports.session import DayDocumentStore, SessionPlan
from smart0dte.ports.state import RESET_SCOPES, ResetRefused, ResetScope, StateStore
from smart0dte.ports.trading import RiskDecision, TradingBook

__all__ = [
    "GATEWAY_PORTS",
    "HAND_INTENT",
    "LIVE_GATEWAY_PORT",
    "PAPER_ACCOUNT_PREFIXES",
    "PAPER_GATEWAY_PORT",
    "RESET_SCOPES",
    "ActiveMode",
    "ApiStore",
    "AuditLog",
    "AuditRecord",
    "AuditRecordExists",
    "BacktestRunner",
    "BrokerAccount",
    "BrokerConnection",
    "BrokerOrderAck",
    "BrokerPosition",
    "ChatMessenger",
    "Clock",
    "CommandReceiver",
    "ConcurrentUpdate",
    "ConflictingRecord",
    "ControlChange",
    "ControlRefused",
    "ControlState",
    "ControlsStore",
    "CountersStore",
    "DailyCounters",
    "DayDocumentStore",
    "DeployedSchedule",
    "FolderArchive",
    "GatewayStatus",
    "HistoricalMarketData",
    "LiveBroker",
    "MarketData",
    "MarketReader",
    "MarketStore",
    "MarketWriter",
    "Notifier",
    "ObjectNotFound",
    "ObjectStore",
    "OrderQueue",
    "QuietNotifier",
    "ReceivedCommand",
    "RecordNotFound",
    "ResetRefused",
    "ResetScope",
    "RiskDecision",
    "ScheduleReader",
    "Scheduler",
    "SessionPlan",
    "StateStore",
    "TradingBook",
    "TradingControls",
    "Versioned",
    "account_refusal",
    "is_paper_account",
    "session_date_of",
]
