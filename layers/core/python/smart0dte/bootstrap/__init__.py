"""The composition root: the only code that reads the environment, builds AWS clients and picks
adapters. Handlers, CLI commands and the embedded AWS get their collaborators from here."""
