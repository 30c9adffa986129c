"""Deployment targets: where a model version serves traffic (the embedded gateway; KServe later).

`base.DeploymentTarget` is the interface, `gateway.GatewayTarget` drives the embedded gateway
over its admin API, and `factory.make_target` picks one from `--target-url`.
"""
