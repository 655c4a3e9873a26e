"""What the two send operators share: reading the input, the send window, the plan and its
cost, the send itself through the campaign engine, and the result they push to XCom."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from airflow_provider_hbsms.campaign.cost import check_balance, estimated_cost
from airflow_provider_hbsms.campaign.engine import Campaign
from airflow_provider_hbsms.campaign.inputs import DEFAULT_CHUNK_ROWS, row_source
from airflow_provider_hbsms.campaign.keys import campaign_key as make_campaign_key
from airflow_provider_hbsms.campaign.plan import CampaignOptions
from airflow_provider_hbsms.campaign.privacy import masked_problem
from airflow_provider_hbsms.campaign.rejects import keep_rejects
from airflow_provider_hbsms.campaign.result import CampaignResult
from airflow_provider_hbsms.campaign.window import DEFAULT_TIMEZONE, SendWindow
from airflow_provider_hbsms.exceptions import HbSmsError, HbSmsValidationError, ValidationProblem
from airflow_provider_hbsms.params import (
    DEFAULT_HBSMS_CONN_ID,
    DEFAULT_STORE_CONN_ID,
    GatewayAccess,
)
from airflow_provider_hbsms.store.indexing import IndexBehind

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hbsms.campaign.plan import Plan
    from airflow_provider_hbsms.campaign.progress import SendReport
    from airflow_provider_hbsms.campaign.spec import MessageSpec


class CampaignSendOperator(GatewayAccess, BaseOperator):
    """What the two send operators share; see their docstrings for the parameters."""

    ui_color = "#e8f4ea"
    _kind: Literal["bulk", "personalized"]

    def __init__(
        self,
        *,
        input: Any,
        mobile_column: str = "mobile",
        ext: str = "",
        hbsms_conn_id: str = DEFAULT_HBSMS_CONN_ID,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        campaign_key: str | None = None,
        on_invalid: Literal["fail", "skip"] = "fail",
        rejects_path: Any = None,
        store_rejects: bool = False,
        dedupe: bool = True,
        honour_opt_outs: bool = True,
        send_window: tuple[str | time, str | time] | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        outside_window: Literal["wait", "fail"] = "wait",
        dry_run: bool = False,
        check_balance: bool = True,
        price_per_segment: Decimal | float | str = 1,
        resend_unknown: bool = False,
        connections: int = 1,
        batch_size: int = 200,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        csv_encoding: str = "utf-8",
        on_empty: Literal["fail", "allow"] = "fail",
        show_personal_data: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Not a template field: rendering would copy every recipient row into the metadata
        # database (Rendered Templates). An upstream task's output is still waited for and
        # resolved, and a templated path still rendered, when the task runs (``_input``).
        self.input = input
        from airflow.sdk.definitions.xcom_arg import XComArg

        XComArg.apply_upstream_relationship(self, input)
        self.mobile_column = mobile_column
        self.ext = ext
        self._set_access(hbsms_conn_id, store_conn_id, store_url)
        self.campaign_key = campaign_key
        self.on_invalid = on_invalid
        self.rejects_path = rejects_path
        self.store_rejects = store_rejects
        self.dedupe = dedupe
        self.honour_opt_outs = honour_opt_outs
        self.send_window = send_window
        self.timezone = timezone
        self.outside_window = outside_window
        # Not ``self.dry_run``: that name is BaseOperator's method that renders templates.
        self.is_dry_run = dry_run
        self.check_balance = check_balance
        self.price_per_segment = Decimal(str(price_per_segment))
        self.resend_unknown = resend_unknown
        self.connections = connections
        self.hook_pool_size = connections  # one connection per batch in flight
        self.batch_size = batch_size
        self.chunk_rows = chunk_rows
        self.csv_encoding = csv_encoding
        self.on_empty = on_empty
        self.show_personal_data = show_personal_data
        if outside_window not in ("wait", "fail"):
            raise ValueError("outside_window must be 'wait' or 'fail'")
        if send_window:
            self._window()  # a bad window or zone fails when the DAG is parsed, not at send
        elif timezone != DEFAULT_TIMEZONE or outside_window != "wait":
            raise ValueError(
                "timezone and outside_window only apply to a send_window, and none is given: "
                "add send_window=('08:00', '21:00') or drop them"
            )
        if on_empty not in ("fail", "allow"):
            raise ValueError("on_empty must be 'fail' or 'allow'")

    def _spec(self) -> MessageSpec:
        raise NotImplementedError

    def _window(self) -> SendWindow | None:
        if not self.send_window:
            return None
        return SendWindow.parse(tuple(self.send_window), self.timezone)  # type: ignore[arg-type]

    def _input(self, context: Context) -> Any:
        """The input as the task sees it: an upstream task's output resolved, a templated
        path or URL rendered; the rows themselves are never rendered."""
        from airflow.sdk.definitions.xcom_arg import XComArg

        value = self.input
        if isinstance(value, XComArg):
            value = value.resolve(context)
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            value = self.render_template(value, context)
        return value

    def _shown(self, problem: ValidationProblem) -> ValidationProblem:
        """``problem`` as logs, errors and XCom may show it (masked unless asked)."""
        if self.show_personal_data:
            return problem
        return masked_problem(problem, (self.mobile_column, "mobile"))

    def _key(self, context: Context) -> str:
        if self.campaign_key:
            return str(self.campaign_key)
        ti = context["ti"]
        return make_campaign_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))

    def _wait_or_fail(self, window: SendWindow, opens: datetime, context: Context) -> None:
        if self.outside_window == "fail":
            raise HbSmsError(
                f"outside the send window {window.describe()}: next opening {opens.isoformat()}"
            )
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        self.log.info("Outside the send window %s: waiting until %s", window.describe(), opens)
        self.defer(
            trigger=DateTimeTrigger(moment=opens.astimezone(UTC)), method_name="execute_after_wait"
        )

    def execute_after_wait(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Back from waiting for the send window: carry on (the ledger skips what was sent)."""
        return self.execute(context)

    def execute(self, context: Context) -> dict[str, Any]:
        window = self._window()
        now = datetime.now(UTC)
        if window is not None and not window.is_open(now) and not self.is_dry_run:
            self._wait_or_fail(window, window.next_open(now), context)
        spec = self._spec()
        key = self._key(context)
        opt_outs = frozenset(self.store.opt_outs.all()) if self.honour_opt_outs else frozenset()
        options = CampaignOptions(
            on_invalid=self.on_invalid,
            dedupe=self.dedupe,
            opt_outs=opt_outs,
            batch_size=self.batch_size,
            resend_unknown=self.resend_unknown,
            connections=self.connections,
        )
        source = row_source(
            self._input(context),
            self.mobile_column,
            self.chunk_rows,
            spec.columns(),
            self.csv_encoding,
        )
        campaign = Campaign(key, spec, source, options)
        self.log.info("Campaign %s: validating %s", key, source.describe)
        plan = campaign.plan()
        self._log_plan(plan)
        if plan.rows == 0 and self.on_empty == "fail":
            raise HbSmsValidationError(
                [
                    ValidationProblem(
                        "input",
                        f"{source.describe} has no rows (empty, or a header only); pass "
                        "on_empty='allow' if an empty campaign is expected",
                    )
                ]
            )
        self._register(campaign, plan, context)
        # Before failing too: the error lists the first rows, the rejects every one.
        keep_rejects(
            campaign,
            plan,
            self.rejects_path,
            self.store.rejects if self.store_rejects else None,
            self.log,
        )
        if plan.invalid and self.on_invalid == "fail":
            raise HbSmsValidationError([self._shown(p) for p in plan.problems], total=plan.invalid)
        if self.is_dry_run:
            cost = str(estimated_cost(plan, self.price_per_segment))
            dry = replace(self._result(plan, None, key), dry_run=True, estimated_cost=cost)
            return dry.to_xcom()
        if self.check_balance and plan.messages:
            ledger, price = self.store.ledger, self.price_per_segment
            check_balance(key, plan, price, ledger, self.hook.get_balance, self.log)
        # The sent messages are indexed for matching reports on time the send waits for the
        # gateway, so the first delivery summary finds that work done (store/indexing.py).
        with IndexBehind.behind(self.store.ledger):
            report = campaign.send(
                self.hook.client, self.store.ledger, window, total_batches=plan.batches
            )
        result = self._result(plan, report, key).to_xcom()
        self.log.info(
            "%d accepted of %d sent in %d batch(es); %d skipped as sent by an earlier try, "
            "%d dropped by the gateway, %d billed segments",
            report.accepted,
            report.submitted,
            report.batches_sent,
            report.skipped_messages,
            report.dropped,
            report.segments_sent,
        )
        if report.paused_until is not None and window is not None:  # only a window pauses
            self.log.info("Send window closed mid-campaign: resuming at %s", report.paused_until)
            self._wait_or_fail(window, report.paused_until, context)
        return result

    def _result(self, plan: Plan, report: SendReport | None, key: str) -> CampaignResult:
        result = CampaignResult.of(key, plan, report)
        if result.invalid_rows:  # to XCom and the log: masked unless asked
            shown = [self._shown(p).describe() for p in plan.problems]
            result = replace(result, invalid_rows=shown)
        return result

    def _log_plan(self, plan: Plan) -> None:
        self.log.info(
            "%d rows: %d valid, %d invalid, %d opted out, %d duplicates -> %d messages, "
            "%d billed segments in %d batches",
            plan.rows,
            plan.valid,
            plan.invalid,
            plan.opted_out,
            plan.duplicates,
            plan.messages,
            plan.segments,
            plan.batches,
        )
        for problem in plan.problems:
            self.log.warning("invalid %s", self._shown(problem).describe())

    def _register(self, campaign: Campaign, plan: Plan, context: Context) -> None:
        """Record the task instance and the input's counts for the campaign view."""
        from airflow_provider_hbsms.store.campaigns import CampaignRegister

        ti = context["ti"]
        CampaignRegister(self.store.engine).record(
            campaign.key,
            kind=self._kind,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=_map_index(ti),
            dry_run=self.is_dry_run,
            rows=plan.rows,
            valid=plan.valid,
            invalid=plan.invalid,
            opted_out=plan.opted_out,
            duplicates=plan.duplicates,
            messages=plan.messages,
            segments=plan.segments,
            batches=plan.batches,
        )


def _map_index(ti: Any) -> int:
    """The task instance's map index; -1 when unmapped (or unknown)."""
    value = getattr(ti, "map_index", None)
    return value if isinstance(value, int) else -1
