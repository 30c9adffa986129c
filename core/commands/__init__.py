"""One module per `ml-actions` subcommand; each exposes `COMMANDS` (see core/cli.py)."""
