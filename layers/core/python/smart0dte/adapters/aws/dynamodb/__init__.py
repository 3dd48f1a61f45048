"""DynamoDB adapters: the state store (`DynamoState`, one module per aggregate), the session store
and the market reader."""

from smart0dte.adapters.aws.dynamodb.audit import DynamoAuditLog
from smart0dte.adapters.aws.dynamodb.market import DynamoMarketReader
from smart0dte.adapters.aws.dynamodb.session import DynamoDayDocuments
from smart0dte.adapters.aws.dynamodb.state import DynamoState

__all__ = ["DynamoAuditLog", "DynamoDayDocuments", "DynamoMarketReader", "DynamoState"]
