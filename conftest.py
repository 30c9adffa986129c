"""Fixtures shared by tests/ and template/tests/: real services, stopped by PID."""

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.chaos_table"]
