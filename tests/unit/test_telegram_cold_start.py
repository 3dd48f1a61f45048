"""The Telegram webhook handler (not in FUNCTIONS: deployed with -c telegram=enabled) imports no
calendar library, tracing SDK or boto3 at cold start, like every handler."""

from __future__ import annotations

from smart0dte.resources import TELEGRAM_FUNCTION

from .test_cold_start import test_a_handler_imports_no_calendar_library_tracing_sdk_or_boto3 as cold_check


def test_the_telegram_handler_cold_import_is_as_lean_as_the_others() -> None:
    cold_check(TELEGRAM_FUNCTION)
