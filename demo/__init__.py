"""The end-to-end demo (`python -m demo`, `make demo`): the whole story on real components.

A real MLflow server (sqlite), the serving gateway, a real Prometheus scraping it, generated
traffic throughout, and the `ml-actions` commands run exactly as a workflow would run them.
"""
