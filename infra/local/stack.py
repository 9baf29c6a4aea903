"""The whole local stack: embedded AWS, the functions, the HTTP API, the invoke endpoint, SQS and
DynamoDB stream delivery.

    stack = LocalStack(StackConfig(seed=data))
    stack.start()      # returns when /_local/health answers 200
    ...
    stack.stop()       # servers shut down, threads joined, moto stopped

Start-up order: both HTTP servers bind first (a busy port fails before anything else starts; until
ready, /_local/health answers 503), then moto and the template's resources, the functions'
environment, the optional pages (`extra_routes`), the seed (validated whole first; a bad seed loads
nothing), the handlers, and last the pollers.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from infra import seed as seed_loader
from infra.local import aws as local_aws
from infra.local.cfn import REGION
from infra.local.challenge import PATH as CHALLENGE_PATH
from infra.local.challenge import WEBHOOK_PATH, CardholderChallenge, charge_out
from infra.local.functions import FunctionHost
from infra.local.gateway import ApiGateway, extra_routes
from infra.local.lambda_endpoint import LambdaEndpoint
from infra.local.serving import Request, Response, Server
from infra.local.sqs_delivery import EventsCollector, QueuePoller, sqs_sources
from infra.local.stream_delivery import StreamPoller, stream_sources
from seats import bootstrap
from seats.adapters.dynamodb.repository import Repository as DynamoRepository
from seats.settings import LOCAL_WEBHOOK_SECRET, get_settings

log = logging.getLogger("seats-local")

LOOPBACK = "127.0.0.1"


@dataclass
class StackConfig:
    seed: Any  # the parsed seed file (docs/local-runtime.md, "Seed files")
    host: str = LOOPBACK
    api_port: int = 3000
    lambda_port: int = 3001


@dataclass
class LocalStack:
    config: StackConfig
    ready: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.host = FunctionHost()
        self.aws: local_aws.LocalAws | None = None
        self.collector: EventsCollector | None = None
        self.pollers: list[QueuePoller] = []
        self.streams: list[StreamPoller] = []
        self.unavailable: list[str] = []
        self.gateway = ApiGateway(self.host, {
            ("GET", "/_local/health"): self._health,
            ("GET", "/_local/charges"): self._charges,
            ("GET", "/_local/events"): self._events,
        }, self.ready)
        challenge = CardholderChallenge(self.gateway.handle, self._localstripe_url)
        self.gateway.local_patterns.append(("POST", CHALLENGE_PATH, challenge.handle))
        self.endpoint = LambdaEndpoint(self.host, self.ready)
        self.servers: list[Server] = []
        self.localstripe: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.servers = [Server("HTTP API", self.config.host, self.config.api_port, self.gateway.handle)]
            self.servers.append(Server("Lambda invoke endpoint", self.config.host, self.config.lambda_port, self.endpoint.handle))
            for server in self.servers:
                server.start()
            self.aws = local_aws.start(LOOPBACK)
            self._export_environment(self.aws)
            self._register_webhook()
            self.gateway.local_routes.update(extra_routes())
            contracts = seed_loader.load(cast(DynamoRepository, bootstrap.repository()), self.config.seed, bootstrap.payment_gateway())
            log.info("seeded %d contracts", contracts)
            self.unavailable = self.host.preload()
            self.collector = EventsCollector(self.aws, self.stopping)
            self.pollers = [QueuePoller(self.aws, self.host, source, self.stopping) for source in sqs_sources()]
            self.streams = [StreamPoller(self.aws, self.host, source, self.stopping) for source in stream_sources()]
            self.collector.start()
            for poller in self.pollers:
                poller.start()
            for stream in self.streams:
                stream.start()
        except BaseException:
            self.stop()
            raise
        self.ready.set()

    def stop(self) -> None:
        """The servers stop taking requests while the pollers finish their batch; moto goes last."""
        self.ready.clear()
        self.stopping.set()
        closing = [threading.Thread(target=server.stop, name=f"stop-{server.name}") for server in self.servers]
        for thread in closing:
            thread.start()
        for poller in self.pollers:
            poller.join()
        for stream in self.streams:
            stream.join()
        if self.collector is not None:
            self.collector.join()
        for thread in closing:
            thread.join()
        self.endpoint.join()
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self.localstripe is not None:
            self.localstripe.stop()
            self.localstripe = None

    @property
    def api_url(self) -> str:
        return self.servers[0].url

    @property
    def lambda_url(self) -> str:
        return self.servers[1].url

    def _export_environment(self, aws: local_aws.LocalAws) -> None:
        """What the functions of this process read: AWS pointed at moto, and the template's variables."""
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update({
            "AWS_ENDPOINT_URL": aws.endpoint_url, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        })
        no_proxy = {p for p in os.environ.get("NO_PROXY", "").split(",") if p} | {LOOPBACK, "localhost"}
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(sorted(no_proxy))
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.update(local_aws.function_environment(aws, dict(os.environ)))
        if not os.environ.get("STRIPE_WEBHOOK_SECRET"):  # not the template's SSM parameter (an empty value too)
            os.environ["STRIPE_WEBHOOK_SECRET"] = LOCAL_WEBHOOK_SECRET
        if os.environ.get("SEATS_PAYMENTS") == "stripe" and not (
                os.environ.get("STRIPE_API_BASE") or os.environ.get("STRIPE_API_KEY")):
            self._start_localstripe()
        bootstrap.reset()

    def _start_localstripe(self) -> None:
        """SEATS_PAYMENTS=stripe with neither a key nor an API base: Stripe is emulated (localstripe)."""
        from infra.local.localstripe import start_localstripe

        self.localstripe = start_localstripe()
        os.environ.update({"STRIPE_API_BASE": self.localstripe.url, "STRIPE_API_KEY": "sk_test_local"})
        log.info("payments: localstripe on %s", self.localstripe.url)

    def _localstripe_url(self) -> str | None:
        """The Stripe emulator the functions use (SEATS_PAYMENTS=stripe with STRIPE_API_BASE), if any."""
        settings = get_settings()
        return settings.stripe_api_base if settings.payments == "stripe" else None

    def _register_webhook(self) -> None:
        """Stripe mode on localstripe: its signed events are sent to this API's /webhooks/stripe."""
        url = self._localstripe_url()
        if url is None:
            return
        from infra.local.localstripe import register_webhook

        register_webhook(url, f"{self.api_url}{WEBHOOK_PATH}", bootstrap.webhook_secret())
        log.info("payments: localstripe sends its webhooks to %s%s", self.api_url, WEBHOOK_PATH)

    # -- local-only routes ---------------------------------------------------------------------------
    def _health(self, _request: Request) -> Response:
        if self.ready.is_set():
            return Response.json(200, {"status": "ok"})
        return Response.json(503, {"status": "starting"})

    def _charges(self, _request: Request) -> Response:
        if not self.ready.is_set():
            return Response.json(503, {"message": "Service Unavailable"})
        return Response.json(200, {"charges": [charge_out(c) for c in bootstrap.payment_gateway().list_charges()]})

    def _events(self, _request: Request) -> Response:
        if self.collector is None or not self.ready.is_set():
            return Response.json(503, {"message": "Service Unavailable"})
        for stream in self.streams:  # what is committed is listed: the outbox is relayed first
            stream.deliver_pending()
        return Response.json(200, {"events": self.collector.events()})
