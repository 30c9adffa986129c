"""Shared pytest fixtures for tests/ and template/tests/: real services, started and stopped by PID."""

pytest_plugins = ["tests.fixtures.services"]
