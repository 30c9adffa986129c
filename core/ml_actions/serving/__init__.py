"""The embedded serving gateway: two slots, weighted canary routing, Prometheus metrics."""
