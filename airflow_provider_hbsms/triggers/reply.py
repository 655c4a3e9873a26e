"""Deferrable waits for replies, and the event trigger that starts DAGs when replies arrive."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_hbsms.triggers._base import ConditionPolling
from airflow_provider_hbsms.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, ReplyCondition


class HbSmsReplyTrigger(ConditionPolling, BaseTrigger):
    """Fires once matching replies are in the store (pulling them first when collecting).

    :param condition: ``ReplyCondition`` fields.
    :param poll_interval: seconds between checks.
    :param max_consecutive_failures: failed checks in a row (passing gateway troubles) to ride
        out before the trigger reports an error with the last one.
    :param failures: failed checks already counted (by the sensor before it deferred).
    """

    condition_class = ReplyCondition
    result_key = "replies"


class HbSmsReplyEventTrigger(ConditionPolling, BaseEventTrigger):
    """For ``AssetWatcher``: an event each time new matching replies are stored.

    Each event carries the new replies (at most ``limit``; at least ``min_replies``, which
    wait for one another) and the last reply id seen. The trigger resumes where it stopped:
    the last reply id it reported is kept in the store under ``cursor``, so replies stored
    while no triggerer ran it (a restart, a deploy) are reported when it runs again. On its
    very first run it starts from the replies stored then (or after ``after_id``). Delivery is
    at least once: an event fired just before the triggerer stopped, and not yet recorded,
    fires again.

    :param condition: ``ReplyCondition`` fields (``collect`` pulls replies first).
    :param poll_interval: seconds between checks.
    :param cursor: the name of the kept position; by default derived from the condition, so
        the same watcher definition resumes its own position.
    :param max_consecutive_failures: failed checks in a row (passing gateway troubles) to ride
        out before the trigger fails with the last one.
    :param failures: failed checks already counted.
    """

    condition_class = ReplyCondition
    fires_once = False

    def __init__(
        self,
        condition: dict[str, Any],
        poll_interval: float = 30.0,
        cursor: str | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        failures: int = 0,
    ) -> None:
        super().__init__(condition, poll_interval, max_consecutive_failures, failures)
        self.cursor = cursor or _cursor_name(condition)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath, kwargs = super().serialize()
        return classpath, {**kwargs, "cursor": self.cursor}

    def _start(self, condition: ReplyCondition) -> None:
        """Resume from the kept position (the first time: the replies stored now)."""
        store = condition.store
        position = store.cursors.get(self.cursor)
        if position is None:
            position = condition.after_id or store.replies.max_id()
            store.cursors.set(self.cursor, position)
        condition.after_id = position

    def _check(self, condition: ReplyCondition) -> list[dict[str, Any]] | None:
        # The condition's own check: new replies since the position, once there are enough.
        return condition.check() or None

    def _event(self, result: list[dict[str, Any]]) -> TriggerEvent:
        last_id = max(r["id"] for r in result)
        return TriggerEvent({"count": len(result), "last_id": last_id, "replies": result})

    def _fired(self, condition: ReplyCondition, result: list[dict[str, Any]]) -> None:
        condition.after_id = max(r["id"] for r in result)
        condition.store.cursors.set(self.cursor, condition.after_id)


def _cursor_name(condition: dict[str, Any]) -> str:
    """A stable name for a watcher's position: the same condition, the same name."""
    wanted = {k: v for k, v in condition.items() if k != "after_id"}
    digest = hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()
    return f"reply-events:{digest[:24]}"
