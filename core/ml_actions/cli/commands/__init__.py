"""One module per `ml-actions` subcommand; each exposes `COMMANDS` (see
core/ml_actions/cli/main.py)."""
