"""The single-table key design. See README "Data model" for the access patterns these serve.

| item           | PK                 | SK                     | GSI1PK / GSI1SK                        | GSI2PK / GSI2SK               | DuePK / DueSK         |
|----------------|--------------------|------------------------|----------------------------------------|-------------------------------|-----------------------|
| contract       | CONTRACT#<cid>     | #CONTRACT              | MANAGER#<uid> / <renewal>#<cid>        | ACCOUNT#<aid> / <renewal>#<cid> | DUE#<shard> / <renewal>#<cid> (online, not cancelled) |
| history event  | CONTRACT#<cid>     | EVENT#<at>#<n>#<eid>   |                                        |                               |                       |
| order          | ORDER#<oid>        | #ORDER                 | ORDERS#<cid> / <created_at>#<oid>      |                               |                       |
| user           | USER#<uid>         | #USER                  |                                        |                               |                       |
| account        | ACCOUNT#<aid>      | #ACCOUNT               |                                        |                               |                       |
| payment method | ACCOUNT#<aid>      | PM#<pmid>              |                                        |                               |                       |
| sandbox charge | SANDBOX#CHARGES    | <idempotency key>      |                                        |                               |                       |
| outbox event   | OUTBOX#<event_id>  | #EVENT                 |                                        |                               |                       |
| payment        | PAYMENT#<pid>      | #PAYMENT               | UnsettledPK / UnsettledSK: UNSETTLED#<shard> / <created_at>#<pid> (unsettled only: sparse) |  |  |

The contract item is also in NoticeIndex (NoticePK / NoticeSK: NOTICE#<shard> / <lead>#<next notice date>#<cid>)
while it is online, auto-renewing, active and a renewal notice of its current period is still to be sent
(sparse); the next notice date is renewal_date − lead, the largest lead not yet sent.

Outbox events expire (TTL `expires_at`) a day after they are written; the relay has read them long before.
"""

from __future__ import annotations

import zlib
from datetime import date, timedelta

from seats.services.ports import OUTBOX_PREFIX

DUE_SHARDS = 16  # spreads the due index over partitions: 16 × 1000 WCU/RCU of headroom
UNSETTLED_SHARDS = 16  # a night's renewal payments pass through the unsettled index too
NOTICE_SHARDS = 16  # like the due index: a night's notices move their contracts' keys in the notice index


def outbox_key(event_id: str) -> dict[str, str]:
    return {"PK": f"{OUTBOX_PREFIX}{event_id}", "SK": "#EVENT"}


def contract_key(contract_id: str) -> dict[str, str]:
    return {"PK": f"CONTRACT#{contract_id}", "SK": "#CONTRACT"}


def order_key(order_id: str) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": "#ORDER"}


def user_key(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "#USER"}


def account_key(account_id: str) -> dict[str, str]:
    return {"PK": f"ACCOUNT#{account_id}", "SK": "#ACCOUNT"}


def payment_method_key(account_id: str, payment_method_id: str) -> dict[str, str]:
    return {"PK": f"ACCOUNT#{account_id}", "SK": f"PM#{payment_method_id}"}


def history_key(contract_id: str, at: str, event_id: str, sequence: int = 0) -> dict[str, str]:
    """`sequence` orders the events one write records at the same instant (renewed after seats_reduced)."""
    return {"PK": f"CONTRACT#{contract_id}", "SK": f"EVENT#{at}#{sequence:03d}#{event_id}"}


SANDBOX_CHARGES = "SANDBOX#CHARGES"  # one partition: the sandbox is for local runs and tests only


def sandbox_charge_key(idempotency_key: str) -> dict[str, str]:
    """The item of the sandbox gateway's charge made under `idempotency_key`."""
    return {"PK": SANDBOX_CHARGES, "SK": idempotency_key}


def payment_key(payment_id: str) -> dict[str, str]:
    return {"PK": f"PAYMENT#{payment_id}", "SK": "#PAYMENT"}


def unsettled_shard(payment_id: str) -> str:
    return f"UNSETTLED#{zlib.crc32(payment_id.encode()) % UNSETTLED_SHARDS:02d}"


def all_unsettled_shards() -> list[str]:
    return [f"UNSETTLED#{n:02d}" for n in range(UNSETTLED_SHARDS)]


def due_shard(contract_id: str) -> str:
    return f"DUE#{zlib.crc32(contract_id.encode()) % DUE_SHARDS:02d}"


def all_due_shards() -> list[str]:
    return [f"DUE#{n:02d}" for n in range(DUE_SHARDS)]


def renewal_sort_key(renewal_date: str, contract_id: str) -> str:
    return f"{renewal_date}#{contract_id}"


def notice_shard(contract_id: str) -> str:
    return f"NOTICE#{zlib.crc32(contract_id.encode()) % NOTICE_SHARDS:02d}"


def all_notice_shards() -> list[str]:
    return [f"NOTICE#{n:02d}" for n in range(NOTICE_SHARDS)]


def notice_sort_key(lead: int, notice_date: date, contract_id: str) -> str:
    """`<lead>#<next notice date>#<contract_id>`: the lead first, so that one range per lead finds exactly
    the notices due on a date (see `notice_range`)."""
    return f"{lead:02d}#{notice_date.isoformat()}#{contract_id}"


def notice_range(as_of: date, lead: int) -> tuple[str, str]:
    """The sort keys (inclusive) of the `lead`-day notices due on `as_of`: next notice date in
    [as_of − lead + 1, as_of], that is renewal_date − as_of ≤ lead with the renewal date still ahead."""
    first = as_of - timedelta(days=lead - 1)
    return f"{lead:02d}#{first.isoformat()}", f"{lead:02d}#{as_of.isoformat()}#\uffff"
