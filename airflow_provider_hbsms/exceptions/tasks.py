"""Failures of the provider's jobs rather than of one call: collecting, waiting, campaigns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_hbsms.exceptions.base import HbSmsError

if TYPE_CHECKING:
    from collections.abc import Sequence


class PushOnlyAccountError(HbSmsError):
    """Collection was asked of an account whose reports and replies come by push only (the
    gateway answered ``-18``): run the push receiver and turn collection off."""


class StalePullsError(HbSmsError):
    """No pull has succeeded for longer than allowed: reports may be moved to history."""


class WaitFailedError(HbSmsError):
    """More checks in a row failed than the wait allows; the message carries the last error."""


# ---------------------------------------------------------------- campaigns


class CampaignError(HbSmsError):
    """The campaign could not be (fully) sent; the message says which batches and why."""


class UnsettledBatchesError(CampaignError):
    """Some batches may or may not have reached the gateway; they were not resent.

    :param campaign_key: the campaign.
    :param batches: the batch numbers.
    :param reason: what left their outcome unknown.
    """

    def __init__(self, campaign_key: str, batches: list[int], reason: str = "") -> None:
        self.campaign_key = campaign_key
        self.batches = batches
        self.reason = reason
        shown = ", ".join(str(b) for b in batches[:20]) + (" ..." if len(batches) > 20 else "")
        super().__init__(
            f"campaign {campaign_key!r}: outcome unknown for batch(es) {shown}: the gateway may "
            f"have accepted them, so they were not resent{': ' + reason if reason else ''}. "
            "Check delivery reports (a report settles a batch as accepted on the next try), "
            "or retry with resend_unknown=True to send them once more."
        )


class StoreUnavailableError(CampaignError):
    """The store (send ledger) could not be reached, even after reconnecting.

    Nothing was sent twice: a batch leaves only after its claim committed. The message says
    what the try was doing, which posted batches (if any) could not be recorded, and what a
    retry will do; never SQL or its parameters.

    :param campaign_key: the campaign.
    :param action: what the try was doing (``claiming batch 12``).
    :param store: the store's URL, password hidden.
    :param cause: the driver's error class name.
    :param attempts: how many times it was tried.
    :param seconds: over how long.
    :param unrecorded: batch numbers posted whose outcome could not be written.
    """

    def __init__(
        self,
        campaign_key: str,
        action: str,
        store: str,
        cause: str,
        attempts: int,
        seconds: float,
        unrecorded: Sequence[int] = (),
    ) -> None:
        self.campaign_key, self.action, self.store, self.cause = campaign_key, action, store, cause
        self.attempts, self.seconds, self.unrecorded = attempts, seconds, list(unrecorded)
        if self.unrecorded:
            after = (
                f"Batch(es) {', '.join(str(b) for b in self.unrecorded[:20])} were posted but "
                "their outcome could not be recorded: a retry settles them from delivery "
                "reports, else reports their outcome as unknown and never resends them "
                "silently; the other batches are sent once."
            )
        else:
            after = (
                "Every batch posted was recorded: a retry skips the accepted batches and sends "
                "the rest, once."
            )
        super().__init__(
            f"campaign {campaign_key!r}: the store ({store}) was unreachable while {action} "
            f"({cause}; {attempts} attempt(s) over {seconds:.0f} s). Nothing was sent twice: "
            f"a batch is posted only after its claim is committed. {after} Retry the task "
            "once the store is reachable."
        )


class LedgerStateError(HbSmsError, ValueError):
    """A move the send ledger's table of states does not allow: a bug in the caller, never a
    gateway answer.

    :param current: the state the batch is in (None: not in the ledger yet).
    :param target: the state asked for.
    :param allowed: the states the table allows from ``current``.
    :param batch_key: the batch, when known.
    """

    def __init__(
        self, current: str | None, target: str, allowed: Sequence[str], batch_key: str = ""
    ) -> None:
        self.current = current
        self.target = target
        self.allowed = list(allowed)
        self.batch_key = batch_key
        where = f"batch {batch_key!r}" if batch_key else "a batch"
        now = "not in the ledger" if current is None else repr(current)
        super().__init__(
            f"the send ledger cannot move {where} from {now} to {target!r} "
            f"(allowed: {', '.join(self.allowed) or 'none, it is final'})"
        )
