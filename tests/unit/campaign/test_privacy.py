"""Recipients' data in a task: the input is never a template field, and numbers are masked
in what is logged."""

from __future__ import annotations

from airflow_provider_hbsms.campaign.privacy import mask_number
from airflow_provider_hbsms.operators.send import (
    HbSmsPersonalizedSendOperator,
    HbSmsSendOperator,
)


def test_input_is_not_a_template_field() -> None:
    assert "input" not in HbSmsSendOperator.template_fields
    assert "input" not in HbSmsPersonalizedSendOperator.template_fields


def test_mask_number() -> None:
    assert mask_number("13900000001") == "139****0001"
    assert mask_number("1234") == "****"
