"""ml-actions core: the logic every action and CLI command wraps."""

__version__ = "0.1.0"
