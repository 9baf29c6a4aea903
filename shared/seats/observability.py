"""Powertools logger, tracer and metrics: one of each per process, configured from the environment."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="seats")
tracer = Tracer(service="seats")
metrics = Metrics(namespace="Seats", service="seats")
