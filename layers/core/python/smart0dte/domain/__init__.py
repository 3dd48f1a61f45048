"""Pure trading logic: no I/O, no AWS, no vendor SDKs."""
