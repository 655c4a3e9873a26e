"""The exception vocabulary: all in ``airflow_provider_hbsms.exceptions``, all exported from the
package root, every field kept through pickle, and a root import that loads nothing heavy."""

from __future__ import annotations

import ast
import inspect
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import airflow_provider_hbsms
from airflow_provider_hbsms import exceptions as e
from airflow_provider_hbsms.protocol.endpoints import Endpoint

PACKAGE = Path(airflow_provider_hbsms.__file__).parent
EXCEPTION_CLASSES = sorted(
    (
        value
        for value in vars(e).values()
        if inspect.isclass(value) and issubclass(value, e.HbSmsError)
    ),
    key=lambda cls: cls.__name__,
)
_PROBLEM = e.ValidationProblem("mobile", "11 digits", "123", row=4)
_LOST_AT = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
_MESSAGE_ONLY = (
    e.HbSmsError,
    e.XmlBodyError,
    e.UnsafeXmlError,
    e.MalformedXmlError,
    e.PushOnlyAccountError,
    e.StalePullsError,
    e.WaitFailedError,
    e.CampaignError,
)
_GATEWAY_CODES = [
    cls
    for cls in EXCEPTION_CLASSES
    if issubclass(cls, e.GatewayError) and not issubclass(cls, e.UnexpectedReplyError)
]


def _sample(cls: type[e.HbSmsError]) -> e.HbSmsError:
    """One instance of ``cls`` with every field set."""
    if cls in _MESSAGE_ONLY:
        return cls("what went wrong")
    if cls in _GATEWAY_CODES:
        return cls("107", "wrong password", Endpoint.BALANCE, retryable=True)
    samples: dict[type[e.HbSmsError], e.HbSmsError] = {
        e.HbSmsValidationError: e.HbSmsValidationError([_PROBLEM], total=12),
        e.InvalidFieldError: e.InvalidFieldError("ext", "digits only", "12a"),
        e.InputFileError: e.InputFileError(Path("/data/in.csv"), "no such file"),
        e.UnexpectedReplyError: e.UnexpectedReplyError(
            Endpoint.PULL_REPORTS, "unreadable XML", reply="<html>", body=b"<reports>"
        ),
        e.ReplyTooLargeError: e.ReplyTooLargeError(
            Endpoint.PULL_REPLIES, "reply over 1024 bytes refused", body=b"x" * 1024
        ),
        e.NoReplyError: e.NoReplyError(Endpoint.BALANCE, "reset"),
        e.RequestNotSentError: e.RequestNotSentError(Endpoint.SEND, "connection refused"),
        e.BalanceReplyLostError: e.BalanceReplyLostError(Endpoint.BALANCE, "read timeout"),
        e.SendOutcomeUnknownError: e.SendOutcomeUnknownError(Endpoint.SEND, "reset", 200),
        e.PullReplyLostError: e.PullReplyLostError(
            Endpoint.PULL_REPORTS, "read timeout", lost_at=_LOST_AT, corp_id="corp"
        ),
        e.UnsettledBatchesError: e.UnsettledBatchesError("key", [3, 7], "reset"),
        e.StoreUnavailableError: e.StoreUnavailableError(
            "key", "claiming batch 12", "postgresql://u:***@db/x", "OperationalError", 3, 9.5, [12]
        ),
        e.LedgerStateError: e.LedgerStateError("accepted", "pending", [], "c/3"),
    }
    return samples[cls]


def test_there_is_a_tree_to_test() -> None:
    assert len(EXCEPTION_CLASSES) > 30


@pytest.mark.parametrize("cls", EXCEPTION_CLASSES, ids=lambda cls: cls.__name__)
def test_every_exception_is_exported_from_the_package_root(cls: type) -> None:
    assert cls.__name__ in airflow_provider_hbsms.__all__
    assert getattr(airflow_provider_hbsms, cls.__name__) is cls


def test_every_name_the_root_exports_imports() -> None:
    assert len(set(airflow_provider_hbsms.__all__)) == len(airflow_provider_hbsms.__all__)
    for name in airflow_provider_hbsms.__all__:
        assert getattr(airflow_provider_hbsms, name) is getattr(e, name)


def test_every_class_of_the_exceptions_package_is_in_the_tree() -> None:
    """Each submodule's exceptions are re-exported by ``exceptions`` (so the tests above see
    them all), and its docstring's tree names every one."""
    defined = {
        node.name
        for path in (PACKAGE / "exceptions").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Error")
    }
    assert defined == {cls.__name__ for cls in EXCEPTION_CLASSES}
    for name in defined:
        assert name in (e.__doc__ or ""), name


#: Control flow inside one module that no caller of the provider ever sees.
_INTERNAL = {"simulator/cli.py: AccountsError"}  # turned into a CLI usage error at once


def test_no_public_exception_is_defined_outside_the_exceptions_package() -> None:
    names = {cls.__name__ for cls in EXCEPTION_CLASSES} | {"Exception", "ValueError"}
    strays = []
    for path in PACKAGE.rglob("*.py"):
        if "exceptions" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
            if bases & names and node.name.endswith("Error"):
                strays.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert sorted(strays) == sorted(_INTERNAL)


@pytest.mark.parametrize("cls", EXCEPTION_CLASSES, ids=lambda cls: cls.__name__)
def test_every_exception_pickles_with_its_message_and_fields(cls: type[e.HbSmsError]) -> None:
    error = _sample(cls)
    error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    assert copy.__notes__ == ["a note"]


def test_fields_are_used_as_named() -> None:
    unexpected = e.UnexpectedReplyError(Endpoint.SEND, "no documented form", reply="<html>oops")
    assert (unexpected.code, unexpected.reply, unexpected.body) == ("", "<html>oops", b"")
    assert unexpected.meaning == "no documented form"
    assert str(unexpected) == "/sms_send2.do replied <html>oops: no documented form"
    gateway = e.AuthenticationError("107", "wrong password", Endpoint.BALANCE)
    assert (gateway.code, gateway.retryable) == ("107", False)
    assert str(gateway) == "/sms_count2.do replied 107: wrong password"
    lost = pickle.loads(pickle.dumps(_sample(e.PullReplyLostError)))
    assert (lost.lost_at, lost.corp_id, lost.endpoint) == (_LOST_AT, "corp", Endpoint.PULL_REPORTS)
    assert pickle.loads(pickle.dumps(_sample(e.ReplyTooLargeError))).body == b"x" * 1024


def test_messages_and_fields_hold_no_secret() -> None:
    echoed = "corp_id=c&corp_pwd=S3cret&mobile=13800138000"
    for error in (
        e.UnexpectedReplyError(Endpoint.SEND, "odd", reply=echoed),
        e.RequestNotSentError(Endpoint.SEND, f"refused: {echoed}"),
        e.SendOutcomeUnknownError(Endpoint.SEND, f"reset: {echoed}", 1),
        e.GatewayError(echoed, "odd", Endpoint.SEND),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert "S3cret" not in str(copy)
        assert "S3cret" not in repr(vars(copy))


def test_what_a_retry_may_do_reads_from_the_tree() -> None:
    for cls in (e.RequestNotSentError, e.BalanceReplyLostError):
        assert issubclass(cls, e.NoReplyError)
    assert issubclass(e.SendOutcomeUnknownError, e.NoReplyError)
    assert issubclass(e.PullReplyLostError, e.NoReplyError)
    assert not issubclass(e.SendOutcomeUnknownError, e.RequestNotSentError)
    assert not issubclass(e.PushOnlyAccountError, e.GatewayError)
    assert issubclass(e.UnsettledBatchesError, e.CampaignError)
    assert issubclass(e.InputFileError, ValueError)


def test_importing_the_root_loads_neither_airflow_nor_an_http_library() -> None:
    code = (
        "import sys, airflow_provider_hbsms;"
        "from airflow_provider_hbsms import SendOutcomeUnknownError;"
        "heavy = [m for m in ('airflow', 'requests', 'urllib3', 'sqlalchemy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""
