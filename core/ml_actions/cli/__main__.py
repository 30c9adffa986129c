"""`python -m ml_actions.cli`: the console script without the installed wrapper."""

from ml_actions.cli.main import entrypoint

entrypoint()
