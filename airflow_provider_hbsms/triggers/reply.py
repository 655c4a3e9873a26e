"""Deferrable waits for replies, and the event trigger that starts DAGs when replies arrive."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_hbsms.triggers._base import ConditionPolling
from airflow_provider_hbsms.waiting import ReplyCondition

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class HbSmsReplyTrigger(ConditionPolling, BaseTrigger):
    """Fires once matching replies are in the store (pulling them first when collecting).

    :param condition: ``ReplyCondition`` fields.
    :param poll_interval: seconds between checks.
    """

    condition_class = ReplyCondition
    result_key = "replies"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in self.poll_until_met():
            yield event


class HbSmsReplyEventTrigger(ConditionPolling, BaseEventTrigger):
    """For ``AssetWatcher``: an event each time new matching replies are stored.

    Starts from the replies stored when it starts (or after ``after_id``); each event carries
    the new replies (at most ``limit``) and the last reply id seen.

    :param condition: ``ReplyCondition`` fields (``collect`` pulls replies first).
    :param poll_interval: seconds between checks.
    """

    condition_class = ReplyCondition

    async def run(self) -> AsyncIterator[TriggerEvent]:
        condition = ReplyCondition(**self.condition)
        if not condition.after_id:
            condition.after_id = await asyncio.to_thread(lambda: condition.store().replies.max_id())
        while True:
            found = await asyncio.to_thread(self._poll, condition)
            if found:
                condition.after_id = max(r["id"] for r in found)
                yield TriggerEvent(
                    {"count": len(found), "last_id": condition.after_id, "replies": found}
                )
            await asyncio.sleep(self.poll_interval)

    @staticmethod
    def _poll(condition: ReplyCondition) -> list[dict[str, Any]]:
        store = condition.store()
        condition.pull(store, reports=False)
        return condition.matches(store)
