"""Deterministic names: a campaign's key, its batches' keys and its messages' ids.

The same task instance (dag, task, run, map index) always gets the same keys, so a retry finds
what an earlier attempt did in the ledger and reports match back to the messages they answer.
"""

from __future__ import annotations

import hashlib

_MAX_CAMPAIGN_KEY = 200


def _digest(*parts: object, size: int = 40) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]


def campaign_key(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """``dag/task/run[/map index]``; hashed when longer than the ledger's column."""
    key = f"{dag_id}/{task_id}/{run_id}" + (f"/{map_index}" if map_index >= 0 else "")
    if len(key) <= _MAX_CAMPAIGN_KEY:
        return key
    return key[: _MAX_CAMPAIGN_KEY - 41] + "#" + _digest(key)


def batch_key(campaign: str, batch_no: int) -> str:
    """The ledger key of one batch of one campaign."""
    return _digest(campaign, batch_no)


def msg_id_prefix(campaign: str) -> str:
    """A short, stable prefix of this campaign's generated message ids."""
    return _digest(campaign, size=12)


def content_hash(wire: bytes) -> str:
    """Hash of a batch as sent (numbers and texts), to notice input that changed on retry."""
    return hashlib.sha256(wire).hexdigest()
