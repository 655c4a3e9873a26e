"""The hbsms connection form: every extra shows a placeholder and none is saved as null."""

from __future__ import annotations

from airflow_provider_hbsms.get_provider_info import get_provider_info


def _conn_fields() -> dict:
    (conn_type,) = get_provider_info()["connection-types"]
    return conn_type["conn-fields"]


def test_every_extra_shows_a_placeholder_and_none_is_saved_as_null() -> None:
    for name, field in _conn_fields().items():
        schema = field["schema"]
        if schema["type"] != "boolean":  # a checkbox has nothing to show
            assert schema.get("examples"), name
            assert all(example is not None for example in schema["examples"]), name
        assert schema.get("default") is not None, name  # an untouched field is not saved null
        assert field["description"], name
