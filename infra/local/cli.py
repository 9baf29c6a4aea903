"""`seats-local`: the local runtime (docs/local-runtime.md).

    seats-local start [--seed FILE] [--host HOST] [--api-port N] [--lambda-port N]
    seats-local token USER_ID [--email EMAIL] [--ttl SECONDS]

`start` runs until Ctrl-C (SIGINT) or SIGTERM, then stops everything and exits 0. A seed file that
cannot be read or is not valid exits 2, naming the field, with nothing loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from infra import seed as seed_loader
from infra.local import banner, jwt_tokens

DEMO_SEED = Path(__file__).resolve().parent / "demo_seed.json"
# Demo cards that only the sandbox can attach: Stripe checks a card when it is attached, and has no
# time-out token. With SEATS_PAYMENTS=stripe the demo seed goes without them.
SANDBOX_ONLY_TOKENS = frozenset({"tok_chargeDeclinedInsufficientFunds", "tok_timeoutAfterCapture"})
log = logging.getLogger("seats-local")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seats-local", description="The seats stack on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start moto, the HTTP API, the invoke endpoint and SQS delivery")
    start.add_argument("--seed", type=Path, default=DEMO_SEED, help="seed file (default: the demo seed)")
    start.add_argument("--host", default="127.0.0.1", help="address the API and invoke endpoint listen on")
    start.add_argument("--api-port", type=int, default=3000)
    start.add_argument("--lambda-port", type=int, default=3001)
    token = commands.add_parser("token", help="print a local JWT for a user")
    token.add_argument("user_id")
    token.add_argument("--email", help="email claim (default: the user's email in the demo seed, if any)")
    token.add_argument("--ttl", type=int, default=jwt_tokens.DEFAULT_TTL_SECONDS, help="seconds until it expires")
    return parser


def read_seed(path: Path) -> Any:
    """The seed file, parsed and validated; raises SeedError naming the field.

    With the sandbox gateway the whole file is checked here (cross-references and card tokens
    too), before anything starts; with Stripe, cards are attached by the provider during the load,
    which validates the file whole again before writing anything.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise seed_loader.SeedError(f"cannot read it ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise seed_loader.SeedError(f"not JSON ({error.msg} at line {error.lineno})") from None
    parsed = seed_loader.parse(data)
    if os.environ.get("SEATS_PAYMENTS", "sandbox") == "sandbox":
        seed_loader.build_items(parsed)
    return data


def _without_sandbox_only_cards(data: Any) -> Any:
    for account in data["accounts"]:
        dropped = [pm["payment_method_id"] for pm in account.get("payment_methods", [])
                   if pm["token"] in SANDBOX_ONLY_TOKENS]
        if dropped:
            account["payment_methods"] = [pm for pm in account["payment_methods"]
                                          if pm["payment_method_id"] not in dropped]
            log.info("stripe: demo cards %s left out (sandbox-only tokens)", ", ".join(dropped))
    return data


def _demo_email(user_id: str) -> str | None:
    data = json.loads(DEMO_SEED.read_text(encoding="utf-8"))
    return next((u["email"] for a in data["accounts"] for u in a.get("users", []) if u["user_id"] == user_id), None)


def token(args: argparse.Namespace) -> int:
    print(jwt_tokens.issue(args.user_id, args.email or _demo_email(args.user_id), args.ttl))
    return 0


def start(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def _request_stop(signum: int, _frame: Any) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    # Metrics are off locally (POWERTOOLS_METRICS_DISABLED); Powertools still warns on every empty flush.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        data = read_seed(args.seed)
        if args.seed.resolve() == DEMO_SEED and os.environ.get("SEATS_PAYMENTS") == "stripe":
            data = _without_sandbox_only_cards(data)
    except seed_loader.SeedError as error:
        print(f"seats-local: bad seed file {args.seed}: {error}", file=sys.stderr)
        return 2

    from infra.local.stack import LocalStack, StackConfig  # imports moto and the functions: after the checks

    stack = LocalStack(StackConfig(seed=data, host=args.host, api_port=args.api_port, lambda_port=args.lambda_port))
    try:
        stack.start()
    except seed_loader.SeedError as error:
        print(f"seats-local: bad seed file {args.seed}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"seats-local: cannot start: {error.strerror or error}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # e.g. SEATS_PAYMENTS=stripe without localstripe installed
        print(f"seats-local: cannot start: {error}", file=sys.stderr)
        return 1
    try:
        from seats import bootstrap

        print(banner.render(seed_loader.parse(data), bootstrap.repository(), api_url=_shown(stack.api_url),
                            lambda_url=_shown(stack.lambda_url), aws_url=stack.aws.endpoint_url if stack.aws else "",
                            unavailable=stack.unavailable), flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        stack.stop()
        log.info("stopped")
    return 0


def _shown(url: str) -> str:
    """A URL to print: a wildcard bind address is reached through loopback."""
    return url.replace("//0.0.0.0:", "//127.0.0.1:")


def main(argv: list[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("seats-local: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    args = _parser().parse_args(argv)
    return token(args) if args.command == "token" else start(args)


if __name__ == "__main__":
    sys.exit(main())
