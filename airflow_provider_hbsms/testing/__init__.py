"""A test kit for DAGs that use this provider.

- ``FakeHbSmsClient`` and ``mock_hbsms_hook()``: unit tests with a mocked hook (no sockets).
- ``MockTransport``: unit tests of ``HbSmsClient`` itself, with scripted replies and recorded
  requests (``HbSmsClient(..., transport=MockTransport([...]))``).
- The pytest plugin (``airflow_provider_hbsms.testing.pytest_plugin``, loaded automatically
  once the provider is installed): fixtures ``hbsms_simulator``, ``hbsms_simulator_factory``,
  ``hbsms_connection``, ``hbsms_store`` and ``hbsms_gateway`` (a fake behind every hook) for
  integration tests of DAGs against the gateway simulator on 127.0.0.1.

See docs/testing.md.
"""

from airflow_provider_hbsms.testing.fake import FakeHbSmsClient, FakeMessage, mock_hbsms_hook
from airflow_provider_hbsms.testing.gateway import (
    TEST_CHANNEL,
    TEST_CORP_ID,
    TEST_PASSWORD,
    TEST_SERVICE,
    connection_for,
    simulated_account,
)
from airflow_provider_hbsms.testing.transport import MockTransport, RecordedRequest

__all__ = [
    "TEST_CHANNEL",
    "TEST_CORP_ID",
    "TEST_PASSWORD",
    "TEST_SERVICE",
    "FakeHbSmsClient",
    "FakeMessage",
    "MockTransport",
    "RecordedRequest",
    "connection_for",
    "mock_hbsms_hook",
    "simulated_account",
]
