"""The canary decider as it was before the sequential analysis, for bench/canary_stats.py."""
