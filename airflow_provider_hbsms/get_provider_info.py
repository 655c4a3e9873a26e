"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_hbsms import __version__

INTEGRATION = "HB SMS"

_STRING = {"type": ["string", "null"]}


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
                "conn-fields": {
                    "corp_service": {
                        "label": "Service code (corp_service)",
                        "schema": _STRING,
                        "description": "The business code the account was given for sending.",
                    },
                    "channel_number": {
                        "label": "Channel number",
                        "schema": _STRING,
                        "description": "The account's special service number; channel number "
                        "+ ext may be at most 20 digits.",
                    },
                    "user_id": {
                        "label": "User id (pulls)",
                        "schema": _STRING,
                        "description": "user_id of report/reply pulls; defaults to corp_id.",
                    },
                    "signature": {
                        "label": "Signature",
                        "schema": _STRING,
                        "description": "The signature 【...】 the gateway appends, counted in "
                        "billed segments.",
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                        "description": "Read timeout of one request; connect timeout is 10 s.",
                    },
                    "verify": {
                        "label": "Verify TLS certificate",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                },
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
                        "corp_service": "business code",
                        "channel_number": "10657532521924",
                        "user_id": "defaults to corp_id",
                        "signature": "【Example】",
                        "timeout": "30",
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
                },
            }
        },
    }
