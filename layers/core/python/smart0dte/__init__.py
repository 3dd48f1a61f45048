"""Smart 0DTE: autonomous same-day-expiry options trading on SPY, QQQ and IWM."""

__version__ = "0.1.0"
