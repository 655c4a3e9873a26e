"""Event-driven: runs when opt-out replies arrive, and exports the opt-out list.

The AssetWatcher's trigger polls the store (pulling replies first) and fires for each new batch
of replies matching the opt-out keywords; the store has already put their senders on the
opt-out list, which the send operators honour. This DAG hands the list on (here: a CSV file a
CRM import can read).
"""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_hbsms.triggers.reply import HbSmsReplyEventTrigger

# --8<-- [start:event_trigger]
OPT_OUT_REPLIES = Asset(
    "hbsms://replies/opt-outs",
    watchers=[
        AssetWatcher(
            name="hbsms_opt_out_replies",
            trigger=HbSmsReplyEventTrigger(
                {"pattern": r"^\s*(退订|TD|T|N)\s*[。.!！]?\s*$"}, poll_interval=60
            ),
        )
    ],
)
# --8<-- [end:event_trigger]


@dag(
    dag_id="hbsms_reply_optouts",
    schedule=[OPT_OUT_REPLIES],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["hbsms", "example"],
)
def hbsms_reply_optouts() -> None:
    @task
    def export_opt_outs() -> int:
        """Write the whole opt-out list for the CRM."""
        from airflow_provider_hbsms.store import open_store

        numbers = sorted(open_store().opt_outs.all())
        path = os.path.join(tempfile.gettempdir(), "hbsms_opt_outs.csv")
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mobile"])
            writer.writerows([n] for n in numbers)
        return len(numbers)

    export_opt_outs()


hbsms_reply_optouts()
