"""One module per `smart0dte` command: its arguments and what it runs."""
