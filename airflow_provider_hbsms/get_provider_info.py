"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_hbsms import __version__

INTEGRATION = "HB SMS"


def _text(example: str) -> dict[str, Any]:
    """A text extra: the form shows ``example`` as its placeholder (Airflow 3 reads
    ``schema.examples``), and an untouched field is saved as "" rather than null."""
    return {"type": ["string", "null"], "default": "", "examples": [example]}


def _conn_fields() -> dict[str, Any]:
    """The extras of the ``hbsms`` connection form, each with a placeholder."""
    return {
        "corp_service": {
            "label": "Service code (corp_service)",
            "schema": _text("svc01"),
            "description": "The business code the account was given for sending.",
        },
        "channel_number": {
            "label": "Channel number",
            "schema": _text("10657532521924"),
            "description": "The account's special service number; channel number + ext may be "
            "at most 20 digits.",
        },
        "user_id": {
            "label": "User id (pulls)",
            "schema": _text("corp123"),
            "description": "user_id of report/reply pulls; empty: corp_id.",
        },
        "signature": {
            "label": "Signature",
            "schema": _text("【示例】"),
            "description": "The signature 【...】 the gateway appends, counted in billed segments.",
        },
        "timeout": {
            "label": "Read timeout (seconds)",
            "schema": {"type": "number", "exclusiveMinimum": 0, "default": 30, "examples": [30]},
            "description": "Seconds to wait for each read of a reply; more than 0.",
        },
        "connect_timeout": {
            "label": "Connect timeout (seconds)",
            "schema": {"type": "number", "exclusiveMinimum": 0, "default": 10, "examples": [10]},
            "description": "Seconds to establish a connection; the Test button fails within "
            "it on a closed port or an unknown host.",
        },
        "deadline": {
            "label": "Request deadline (seconds)",
            "schema": _text("40"),
            "description": "Seconds for a whole request (connect, send, the whole reply); "
            "empty: connect + read timeout.",
        },
        "pacing": {
            "label": "Pacing of balance and pulls",
            "schema": {
                "type": "string",
                "enum": ["account", "endpoint"],
                "default": "account",
                "examples": ["account"],
            },
            "description": "account: balance and both pulls take turns 200 ms apart (the "
            "document's rule per user); endpoint: each endpoint on its own.",
        },
        "verify": {
            "label": "Verify TLS certificate",
            "schema": {"type": "boolean", "default": True},
            "description": "Off only for a gateway with a self-signed certificate.",
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-hbsms",
        "name": INTEGRATION,
        "description": "Send SMS campaigns through the HB SMS HTTP gateway and collect delivery "
        "reports and replies.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://pypi.org/project/airflow-provider-hbsms/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_hbsms.hooks.hbsms"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hbsms.operators.send",
                    "airflow_provider_hbsms.operators.collect",
                    "airflow_provider_hbsms.operators.load",
                    "airflow_provider_hbsms.operators.purge",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hbsms.sensors.delivery",
                    "airflow_provider_hbsms.sensors.reply",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hbsms.triggers.delivery",
                    "airflow_provider_hbsms.triggers.reply",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "hbsms",
                "hook-class-name": "airflow_provider_hbsms.hooks.hbsms.HbSmsHook",
                "hook-name": "HB SMS",
                "conn-fields": _conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "host": "Gateway host",
                        "schema": "Scheme (http or https)",
                        "login": "Account id (corp_id)",
                        "password": "Account password (corp_pwd)",
                    },
                    "placeholders": {
                        "host": "sms.hbsmservice.com",
                        "port": "8080",
                        "schema": "http",
                        "login": "corp_id",
                        "password": "corp_pwd",
                        "corp_service": "svc01",
                        "channel_number": "10657532521924",
                        "user_id": "corp123",
                        "signature": "【示例】",
                        "timeout": "30",
                        "connect_timeout": "10",
                        "deadline": "40",
                    },
                },
            }
        ],
        "config": {
            "hbsms": {
                "description": "Settings of the HB SMS provider.",
                "options": {
                    "store_conn_id": {
                        "description": "Airflow connection id of the database that holds the "
                        "send ledger, reports, replies and opt-outs. Empty: store_url.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "hbsms_store",
                        "default": "",
                    },
                    "store_url": {
                        "description": "SQLAlchemy URL of the store when store_conn_id is empty. "
                        "Empty: a SQLite file hbsms.db in AIRFLOW_HOME.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql://user@db/airflow_sms",
                        "default": "",
                    },
                    "receiver_token": {
                        "description": "Secret path token of the push receiver mounted on the "
                        "API server. Empty: the receiver plugin refuses every push.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": "",
                    },
                    "receiver_allowed_ips": {
                        "description": "Comma-separated IPs or networks allowed to push. "
                        "Empty: any.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "203.0.113.0/24",
                        "default": "",
                    },
                    "receiver_trusted_proxies": {
                        "description": "Comma-separated IPs or networks of the reverse proxies "
                        "in front of the API server whose X-Forwarded-For is believed (the "
                        "caller is the rightmost hop that is not one of them). Empty: the "
                        "header is ignored.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "10.0.0.5",
                        "default": "",
                    },
                    "receiver_body_timeout": {
                        "description": "Seconds a push may take to send its body.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "20",
                    },
                    "opt_out_keywords": {
                        "description": "Comma-separated replies that put their sender on the "
                        "opt-out list (compared trimmed, case- and width-insensitively), "
                        "wherever replies are stored: the collect operator, the collecting "
                        "sensors and triggers, the push receiver (plugin and hbsms-receiver) "
                        "and the replay. A task's opt_out_keywords= overrides it. Empty: the "
                        "defaults.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "退订,TD,T,N,STOP",
                        # store.replies.DEFAULT_OPT_OUT_KEYWORDS, written out: this module is
                        # read by every Airflow process and imports nothing heavy.
                        "default": "退订,TD,T,N",
                    },
                    "rejects_dir": {
                        "description": "Folder a relative rejects_path of the send operators "
                        "lives under (it may not lead out of it). Empty: "
                        "$AIRFLOW_HOME/hbsms/rejects.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/data/hbsms/rejects",
                        "default": "",
                    },
                    "retention_days": {
                        "description": "Days after a campaign's last batch (and a report, "
                        "reply or dead letter's arrival) after which hbsms-purge and "
                        "HbSmsPurgeOperator remove its personal data (numbers, texts, reply "
                        "contents), keeping its counts. Empty: kept until purged by hand.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "90",
                        "default": "",
                    },
                },
            }
        },
    }
