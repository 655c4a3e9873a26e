"""Send operators: one text to many numbers, or one text per row, from DataFrames or files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.operators.campaign_send import CampaignSendOperator
from airflow_provider_hbsms.params import GATEWAY_TEMPLATE_FIELDS

if TYPE_CHECKING:
    from collections.abc import Sequence


class HbSmsSendOperator(CampaignSendOperator):
    """Send one text to every number of the input (``/sms_send2.do``, 200 numbers a request).

    Exactly once across task retries: every batch is recorded in the send ledger before and
    after its request; a retry skips accepted batches and never silently resends a batch whose
    outcome is unknown.

    :param content: the text (1 to 1000 characters, GBK-encodable). (templated)
    :param input: a local path, URL (``s3://...``) or ``ObjectStoragePath`` of a ``.parquet``
        or ``.csv`` file (``.csv.gz``, ``.bz2``, ``.xz`` too) or of a directory of Parquet
        parts, read in chunks; or a DataFrame, a list of numbers or an upstream task's
        XComArg returning any of these. Not a template field, so recipients never land in
        Rendered Templates; a path given as a Jinja string is still rendered when the task
        runs. Prefer files for large inputs: a DataFrame passed by XCom is stored whole.
    :param mobile_column: the column of numbers.
    :param ext: the ext appended to the channel number (digits; may be empty); one ext for
        every number, as the same-content endpoint takes one per request (per-row exts: the
        personalized operator's ``ext_column``). (templated)
    :param campaign_key: the campaign's key; default ``dag/task/run[/map index]``. (templated)
    :param on_invalid: ``fail`` (default: nothing is sent if any row is invalid; the error names
        rows, fields and rules) or ``skip`` (invalid rows are left out and counted).
    :param rejects_path: a CSV file (local path, URL or ``ObjectStoragePath``) to write every
        invalid row to, with either ``on_invalid``; replaced on each try. A relative path
        lives under ``[hbsms] rejects_dir`` (default ``$AIRFLOW_HOME/hbsms/rejects``) and may
        not climb out of it; cells a spreadsheet would run as formulas are prefixed with
        ``'``. (templated)
    :param store_rejects: keep every invalid row in the store's ``hbsms_rejects`` table too
        (replaced on each try; ``Store.rejects.of(campaign_key)`` reads them).
    :param dedupe: send each number once (default True).
    :param honour_opt_outs: leave out numbers on the opt-out list (default True).
    :param send_window: local hours ``("08:00", "21:00")`` outside which nothing is sent.
    :param timezone: the window's time zone (default Asia/Shanghai).
    :param outside_window: ``wait`` (defer until the window opens; holds no worker slot) or
        ``fail``.
    :param dry_run: validate and estimate (rows, messages, segments, cost) without sending.
    :param check_balance: before the first batch, check the balance covers the estimate.
    :param price_per_segment: the price of one billed segment, in the unit of the balance.
    :param resend_unknown: resend, once, batches whose outcome is unknown.
    :param connections: batches in flight at once (default 1, as the gateway's vendor advises).
    :param batch_size: numbers per request (at most 200).
    :param chunk_rows: rows read from a file at a time.
    :param csv_encoding: the text encoding of a CSV input (``gb18030`` for files saved by
        Excel in Chinese; default UTF-8).
    :param on_empty: ``fail`` (default: an input without rows, e.g. a CSV with a header only,
        fails the task) or ``allow`` (it succeeds, sending nothing).
    :param show_personal_data: show invalid rows' numbers and texts in full in logs, errors
        and XCom (default: numbers masked as ``139****0001``, other values by their length;
        the rejects file and table always hold them whole).
    """

    template_fields: Sequence[str] = (
        "content",
        "ext",
        *GATEWAY_TEMPLATE_FIELDS,
        "campaign_key",
        "rejects_path",
    )
    _kind = "bulk"

    def __init__(self, *, content: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.content = content

    def _spec(self) -> MessageSpec:
        return MessageSpec(
            "bulk",
            content=self.content,
            mobile_column=self.mobile_column,
            ext=str(self.ext or ""),
            channel_number=self.hook.channel_number,
            signature=self.hook.signature,
        )


class HbSmsPersonalizedSendOperator(CampaignSendOperator):
    """Send one text per row (``/hSmsSend.do``, 200 messages a request).

    Each row's text comes from ``content_column`` or from ``template`` rendered over the row's
    columns (``"尊敬的{name}，您的余额为{balance}元"``); a missing column or an empty field is a
    validation error naming the row, never a "None" in someone's SMS. Exactly-once semantics,
    inputs and the remaining parameters are those of ``HbSmsSendOperator``.

    :param template: a ``str.format`` template over the row's columns. (templated)
    :param content_column: the column holding each row's text.
    :param ext_column: the column of per-row exts (default: ``ext`` for every row).
    :param msg_id_column: the column of per-row message ids (default: generated, stable across
        retries, so reports match back).
    """

    template_fields: Sequence[str] = (
        "template",
        "content_column",
        "ext",
        *GATEWAY_TEMPLATE_FIELDS,
        "campaign_key",
        "rejects_path",
    )
    _kind = "personalized"

    def __init__(
        self,
        *,
        template: str | None = None,
        content_column: str | None = None,
        ext_column: str | None = None,
        msg_id_column: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dedupe", False)
        super().__init__(**kwargs)
        self.template = template
        self.content_column = content_column
        self.ext_column = ext_column
        self.msg_id_column = msg_id_column

    def _spec(self) -> MessageSpec:
        return MessageSpec(
            "personalized",
            template=self.template,
            content_column=self.content_column,
            mobile_column=self.mobile_column,
            ext=str(self.ext or ""),
            ext_column=self.ext_column,
            msg_id_column=self.msg_id_column,
            channel_number=self.hook.channel_number,
            signature=self.hook.signature,
        )
