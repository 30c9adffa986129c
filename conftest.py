"""Fixtures shared by tests/ and template/tests/: real services, stopped by PID."""

import sys

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.chaos_table"]

# An xdist worker's __main__ has neither __spec__ nor __file__, which pyspark.sql.connect
# (imported by mlflow.spark.log_model) takes for a doctest run without grpc, and exits 0.
_main = sys.modules.get("__main__")
if _main is not None and getattr(_main, "__spec__", None) is None \
        and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"
