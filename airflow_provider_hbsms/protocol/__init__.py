"""The HB SMS wire protocol, sans I/O: bodies, replies, XML, validation, segments.

Nothing here opens a socket or imports Airflow; the client, the receiver and the simulator all
share it. The exceptions it raises are in ``airflow_provider_hbsms.exceptions``.
"""

from airflow_provider_hbsms.protocol.endpoints import (
    MAX_BATCH,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    PACING_INTERVAL,
    Endpoint,
)
from airflow_provider_hbsms.protocol.errors import ERROR_CODES, ErrorCode, error_for
from airflow_provider_hbsms.protocol.forms import (
    CONTENT_TYPE,
    build_balance_body,
    build_personalized_body,
    build_pull_body,
    build_send_body,
    check_personalized_item,
    decode_form,
    encode_form,
    split_send_param,
)
from airflow_provider_hbsms.protocol.models import (
    GATEWAY_TZ,
    Credentials,
    PersonalizedItem,
    Reply,
    Report,
    SendResult,
    is_delivered_code,
)
from airflow_provider_hbsms.protocol.replies import (
    parse_balance_reply,
    parse_replies_reply,
    parse_reports_reply,
    parse_send_reply,
)
from airflow_provider_hbsms.protocol.segments import count_segments
from airflow_provider_hbsms.protocol.validation import (
    check_content,
    check_ext,
    check_msg_id,
    normalize_mobile,
)
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml, build_reports_xml
from airflow_provider_hbsms.protocol.xmlcodec import parse_replies, parse_reports

__all__ = [
    "CONTENT_TYPE",
    "ERROR_CODES",
    "GATEWAY_TZ",
    "MAX_BATCH",
    "MAX_CONTENT_LENGTH",
    "MAX_MSG_ID_LENGTH",
    "MAX_REPLIES_PER_BODY",
    "MAX_REPORTS_PER_BODY",
    "PACING_INTERVAL",
    "Credentials",
    "Endpoint",
    "ErrorCode",
    "PersonalizedItem",
    "Reply",
    "Report",
    "SendResult",
    "build_balance_body",
    "build_personalized_body",
    "build_pull_body",
    "build_replies_xml",
    "build_reports_xml",
    "build_send_body",
    "check_content",
    "check_ext",
    "check_msg_id",
    "check_personalized_item",
    "count_segments",
    "decode_form",
    "encode_form",
    "error_for",
    "is_delivered_code",
    "normalize_mobile",
    "parse_balance_reply",
    "parse_replies",
    "parse_replies_reply",
    "parse_reports",
    "parse_reports_reply",
    "parse_send_reply",
    "split_send_param",
]
