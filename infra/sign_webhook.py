"""Signs a sample webhook event again: a stored `Stripe-Signature` is stale after 5 minutes.

PaymentWebhookFunction refuses a signature older than 5 minutes on the real clock (400
`invalid_signature`; docs/stripe.md, "3-D Secure and webhooks"), so the signature kept in
`events/stripe_webhook.json` is refused as it is. This prints the same API Gateway event with its body
signed now (`seats.adapters.payments.webhooks.signed`: Stripe's `t=<unix>,v1=<HMAC-SHA256>` scheme) with
the endpoint secret: `--secret`, else `STRIPE_WEBHOOK_SECRET`, else the local runtime's and the tests'
`whsec_seats_local`. The body is written again compactly; nothing else of the event changes but its
`stripe-signature` and `content-length` headers and `requestContext.time` / `timeEpoch`.

    python -m infra.sign_webhook events/stripe_webhook.json > /tmp/webhook.json
    aws lambda invoke --endpoint-url http://127.0.0.1:3001 --function-name PaymentWebhookFunction \\
        --payload fileb:///tmp/webhook.json /dev/stdout
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seats.adapters.payments.webhooks import signed
from seats.settings import LOCAL_WEBHOOK_SECRET

SIGNATURE_HEADER = "stripe-signature"  # API Gateway lower-cases header names in payload 2.0


class NotAWebhookEvent(ValueError):
    """The file is not an HTTP API event with a JSON body."""


def default_secret() -> str:
    return os.environ.get("STRIPE_WEBHOOK_SECRET") or LOCAL_WEBHOOK_SECRET


def resign(event: dict[str, Any], secret: str, at: int | None = None) -> dict[str, Any]:
    """A copy of the HTTP API event whose body is signed with `secret` at `at` (now by default)."""
    body = event.get("body")
    if not isinstance(body, str) or event.get("isBase64Encoded") or not isinstance(event.get("headers"), dict):
        raise NotAWebhookEvent("not an API Gateway HTTP API event with a plain-text body")
    try:
        payload = json.loads(body)
    except ValueError as malformed:
        raise NotAWebhookEvent(f"the body is not JSON: {malformed}") from None
    at = int(time.time()) if at is None else at
    signed_body, signature = signed(payload, secret, at)
    resigned = copy.deepcopy(event)
    resigned["body"] = signed_body.decode()
    resigned["headers"][SIGNATURE_HEADER] = signature
    if "content-length" in resigned["headers"]:
        resigned["headers"]["content-length"] = str(len(signed_body))
    context = resigned.get("requestContext")
    if isinstance(context, dict):
        context["timeEpoch"] = at * 1000
        context["time"] = datetime.fromtimestamp(at, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return resigned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sign_webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="an HTTP API event for POST /webhooks/stripe (events/…)")
    parser.add_argument("--secret", help="the endpoint secret (default: STRIPE_WEBHOOK_SECRET, else "
                                         f"{LOCAL_WEBHOOK_SECRET})")
    parser.add_argument("--at", type=int, help="the signature's Unix time (default: now)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
        resigned = resign(event, args.secret or default_secret(), args.at)
    except (OSError, ValueError) as error:
        print(f"sign_webhook: {args.event}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(resigned, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
