"""Powertools logger, tracer and metrics: one of each per process, configured from the environment."""

from __future__ import annotations

import numbers
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class _NoTracing(BaseProvider):
    """The tracer's provider when tracing is off: it records nothing, as the disabled X-Ray SDK would.

    The X-Ray SDK builds its recorder, and with it a botocore X-Ray client, when it is imported: about
    200 ms of cold start (see BENCHMARKS.md) for a provider that would only be switched off. With
    tracing on (in Lambda, `Tracing: Active`) the tracer gets the X-Ray SDK as before.
    """

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


def _tracing_off() -> bool:
    """Powertools' own rule: off when POWERTOOLS_TRACE_DISABLED is set, or outside Lambda (or in SAM local)."""
    return bool(Tracer._is_tracer_disabled())


logger = Logger(service="seats")
tracer = Tracer(service="seats", provider=_NoTracing() if _tracing_off() else None)
metrics = Metrics(namespace="Seats", service="seats")
