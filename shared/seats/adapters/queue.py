"""The renewal queue on SQS (the RenewalQueue port)."""

from __future__ import annotations

import time
from typing import Any

from seats.services.messages import RenewalMessage

SEND_ATTEMPTS = 3


class SqsRenewalQueue:
    def __init__(self, client: Any, queue_url: str | None) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, messages: list[RenewalMessage]) -> int:
        """One SendMessageBatch (at most ten messages); entries SQS refuses are sent again (3 attempts).
        Returns how many went."""
        if not self.queue_url:
            raise RuntimeError("RENEWAL_QUEUE_URL is not set")
        pending = {str(n): {"Id": str(n), "MessageBody": m.to_json()} for n, m in enumerate(messages)}
        for attempt in range(SEND_ATTEMPTS):
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=list(pending.values()))
            for sent in answer.get("Successful", []):
                pending.pop(sent["Id"], None)
            if not pending:
                break
            time.sleep(0.05 * 2 ** attempt)
        return len(messages) - len(pending)
