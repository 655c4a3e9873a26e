"""The fast reader of plain reports bodies gives exactly what parsing the XML gives, and
leaves every other body to the parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hbsms.protocol import xmlcodec
from airflow_provider_hbsms.protocol.models import Report
from airflow_provider_hbsms.protocol.xmlbuild import build_reports_xml
from airflow_provider_hbsms.protocol.xmlcodec import read_reports
from airflow_provider_hbsms.protocol.xmlfast import fast_reports

FIELD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
FIELDS = ("mobile", "msg_id", "sub_seq", "err", "fail_desc", "report_time", "corp_id")


def _by_tree(body: bytes | str) -> object:
    """What the XML parser reads from ``body``: items (without elements) and refusals, or
    the error it raises."""
    inner = xmlcodec._inner(body, "reports")
    try:
        read = xmlcodec._read_tree(
            xmlcodec._tree(inner, "reports"), "reports", "report", xmlcodec._report
        )
    except Exception as exc:
        return type(exc).__name__
    return [item for item, _ in read.items], read.refused


def _by_read(body: bytes | str) -> object:
    try:
        read = read_reports(body)
    except Exception as exc:
        return type(exc).__name__
    return [item for item, _ in read.items], read.refused


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(FIELDS), FIELD_TEXT), max_size=8),
        max_size=5,
    ),
    st.sampled_from(["", " ", "\n", "\r\n", "\t"]),
)
def test_read_reports_gives_what_the_xml_parser_gives(
    reports: list[list[tuple[str, str]]], space: str
) -> None:
    """Any field text (markup characters, references, forbidden characters, numbers that are
    not numbers, times that are not times, repeated and missing fields): read_reports and the
    tree agree on every item and every refusal, or both refuse the body."""
    inner = space.join(
        "<report>" + space.join(f"<{tag}>{text}</{tag}>" for tag, text in fields) + "</report>"
        for fields in reports
    )
    body = f"<reports>{inner}</reports>"
    assert _by_read(body) == _by_tree(body)


def test_a_plain_page_is_read_without_a_tree() -> None:
    page = build_reports_xml(
        [Report(f"138{i:08d}", f"m{i}", i % 3, "DB:0140", "空号 x", None, "c") for i in range(100)]
    )
    inner = xmlcodec._inner(page, "reports")
    fast = fast_reports(inner)
    assert fast is not None
    assert len(fast) == 100
    assert [item for item, _ in read_reports(page).items] == fast
    assert _by_tree(page) == (fast, [])


@pytest.mark.parametrize(
    "inner",
    [
        "<report><mobile>1</mobile><msg_id>m</msg_id><extra>x</extra></report>",  # unknown field
        "<report id='1'><mobile>1</mobile><msg_id>m</msg_id></report>",  # an attribute
        "<report><mobile>1</mobile><msg_id>a&amp;b</msg_id></report>",  # a reference
        "<report><mobile>1</mobile><msg_id><![CDATA[m]]></msg_id></report>",  # CDATA
        "<report><mobile>1</mobile><msg_id>m</msg_id><!-- c --></report>",  # a comment
        "<report><mobile>1</mobile><msg_id>m</msg_id><err/></report>",  # an empty element
        "<report><mobile>1</mobile><msg_id>m</msg_id><sub_seq>x</sub_seq></report>",
        "<report><mobile>1</mobile><msg_id>m</msg_id><report_time>soon</report_time></report>",
        "<report><msg_id>m</msg_id></report>",  # no mobile
        "<report><mobile>1</mobile><msg_id>a]]>b</msg_id></report>",  # not well-formed
        "<report>\r\n<mobile>1</mobile><msg_id>m</msg_id></report>",  # CR: XML rewrites it
    ],
)
def test_any_other_shape_is_left_to_the_parser(inner: str) -> None:
    assert fast_reports(inner) is None
    body = f"<reports>{inner}</reports>"
    assert _by_read(body) == _by_tree(body)
