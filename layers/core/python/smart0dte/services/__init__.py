"""Use cases, one per handler: they wire the domain to ports and return results."""
