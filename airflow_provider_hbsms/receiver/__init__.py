"""The push receiver: the endpoint the gateway POSTs delivery reports and replies to."""

from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app

__all__ = ["ReceiverSettings", "create_app"]
