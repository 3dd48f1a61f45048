"""AWS CDK v2 infrastructure of Smart 0DTE, synthesized from smart0dte.resources."""

from .stack import Smart0dteStack

__all__ = ["Smart0dteStack"]
