"""Faults the simulator can inject into its gateway endpoints and into its pushes.

Besides failing requests, it can hand over bad data the way a sloppy or hostile gateway
would: ``bad_items`` mixes items no store should take as they are (out-of-range and over-long
fields, unreadable times, unknown shapes), items that are fine once read right (prefixed
numbers, GB18030-only characters, long failure descriptions) and wrong declared encodings
into the body a pull serves (``endpoint`` a pull path) or a push carries (``push:reports`` /
``push:replies``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

#: What each fault kind does.
FAULT_KINDS = {
    "latency": "wait `seconds` before processing",
    "close_before_processing": "close the connection without processing or replying",
    "close_after_processing": "process the request fully, then close without replying",
    "http_500": "reply HTTP 500 without processing",
    "malformed_reply": "process the request, then reply with text of no documented form",
    "bad_items": "mix the `items` named (BAD_REPORTS / BAD_REPLIES; default all) into the "
    "body served or pushed, encoded in `encoding` (gb18030) and declared as `declare` (GBK)",
}
#: Where ``bad_items`` applies: the pull endpoints and the two kinds of push.
BAD_ITEM_TARGETS = {
    "/post_report.do": "reports",
    "/post_deliverMsg.do": "replies",
    "push:reports": "reports",
    "push:replies": "replies",
}

_C = "<corp_id>test</corp_id>"


def _report(name: str, mobile: str = "13900000001", sub_seq: str = "0", msg_id: str = "",
            err: str = "0", desc: str = "", when: str = "2026-01-02 03:04:05") -> str:  # fmt: skip
    return (
        f"<report>{_C}<mobile>{mobile}</mobile><sub_seq>{sub_seq}</sub_seq>"
        f"<msg_id>{msg_id or 'bad-' + name}</msg_id><err>{err}</err>"
        f"<fail_desc>{desc}</fail_desc><report_time>{when}</report_time></report>"
    )


def _reply(mobile: str = "13900000002", content: str = "hi", ext: str = "",
           when: str = "2026-01-02 03:04:05") -> str:  # fmt: skip
    return (
        f"<deliver>{_C}<mobile>{mobile}</mobile><ext>{ext}</ext><time>{when}</time>"
        f"<content>{content}</content></deliver>"
    )


#: Report items by name: (XML fragment, what a store of the current schema does with it:
#: a word of the quarantine reason, or ``""`` when it is stored).
BAD_REPORTS: dict[str, tuple[str, str]] = {
    "sub_seq_2_63": (_report("sub_seq_2_63", sub_seq=str(2**63)), "sub_seq"),
    "sub_seq_text": (_report("sub_seq_text", sub_seq="two"), "sub_seq"),
    "msg_id_120": (_report("", msg_id="m" * 120), "msg_id"),
    "err_80": (_report("err_80", err="E" * 80), "err"),
    "mobile_40": (_report("mobile_40", mobile="1" * 40), "mobile"),
    "time_year_1": (_report("time_year_1", when="0001-01-01 00:00:00"), "report_time"),
    "time_year_9999": (_report("time_year_9999", when="9999-12-31T23:59:59-05:00"), "report_time"),
    "time_unreadable": (_report("time_unreadable", when="2026-13-45 99:99:99"), "report_time"),
    "no_msg_id": ("<report><mobile>13900000003</mobile></report>", "msg_id"),
    "stray_element": ("<status>DELIVRD</status>", "unexpected"),
    # Stored, once read right:
    "mobile_plus86": (_report("mobile_plus86", mobile="+8613900000011"), ""),
    "mobile_86": (_report("mobile_86", mobile="8613900000012"), ""),
    "mobile_0086": (_report("mobile_0086", mobile="0086 139-0000-0013"), ""),
    "fail_desc_2000": (_report("fail_desc_2000", err="MK:0001", desc="失败" * 1000), ""),
    "msg_id_60": (_report("", msg_id="n" * 60), ""),
    "err_40": (_report("err_40", err="F" * 40), ""),
    "mobile_intl": (_report("mobile_intl", mobile="+852 9123 4567"), ""),
    "cdata_root": (_report("", msg_id="<![CDATA[cd</reports>ata]]>"), ""),
}

#: Reply items by name, as ``BAD_REPORTS``.
BAD_REPLIES: dict[str, tuple[str, str]] = {
    "no_mobile": ("<deliver><content>hello</content></deliver>", "mobile"),
    "ext_40": (_reply(ext="9" * 40, content="ext_40"), "ext"),
    "time_year_1": (_reply(when="0001-01-01 00:00:00", content="time_year_1"), "time"),
    "time_unreadable": (_reply(when="yesterday", content="time_unreadable"), "time"),
    # Stored, once read right:
    "optout_plus86": (_reply(mobile="+8613812340001", content="退订"), ""),
    "optout_86": (_reply(mobile="8613812340002", content="退订"), ""),
    "optout_0086": (_reply(mobile="008613812340003", content="退订"), ""),
    "gb18030_emoji": (_reply(mobile="13812340004", content="退订😀"), ""),
    "ext_25": (_reply(mobile="13812340005", ext="1" * 25, content="ext_25"), ""),
    "received": (_reply(mobile="13812340006", content="收到"), ""),
}

_ROOTS = {"reports": "reports", "replies": "delivers"}


def bad_items(kind: str, names: list[str] | None = None) -> list[tuple[str, str, str]]:
    """``(name, fragment, reason word)`` of the named items of ``kind`` (default: all)."""
    table = BAD_REPORTS if kind == "reports" else BAD_REPLIES
    chosen = names if names is not None else list(table)
    unknown = [n for n in chosen if n not in table]
    if unknown:
        raise ValueError(f"unknown {kind} item(s) {unknown}; one of {sorted(table)}")
    return [(n, *table[n]) for n in chosen]


def mix_bad_items(kind: str, body: bytes | None, params: dict[str, Any]) -> bytes:
    """A body of ``kind`` holding the good items of ``body`` (a GBK body as built by the
    simulator, or None) and the bad items of ``params``, encoded and declared as asked."""
    root = _ROOTS[kind]
    good = ""
    if body:
        text = body.decode("gb18030")
        match = re.search(rf"<{root}>(.*)</{root}>", text, re.DOTALL)
        good = match.group(1) if match else ""
    fragments = [fragment for _, fragment, _ in bad_items(kind, params.get("items"))]
    # Bad items first, in the middle and last: no position is special to a reader.
    half = len(fragments) // 2
    inner = "".join(fragments[:half]) + good + "".join(fragments[half:])
    encoding = str(params.get("encoding", "gb18030"))
    declare = str(params.get("declare", "GBK"))
    return f'<?xml version="1.0" encoding="{declare}" ?>\n<{root}>{inner}</{root}>'.encode(encoding)


@dataclass
class Fault:
    """One injected fault.

    :param kind: one of ``FAULT_KINDS``.
    :param endpoint: the path it applies to (None: every gateway endpoint).
    :param after: matching requests let through before it strikes.
    :param count: requests it strikes (None: all from then on).
    :param params: kind parameters (``seconds`` for latency).
    """

    kind: str
    endpoint: str | None = None
    after: int = 0
    count: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    struck: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.kind == "bad_items":
            if self.endpoint not in BAD_ITEM_TARGETS:
                raise ValueError(f"bad_items needs an endpoint, one of {sorted(BAD_ITEM_TARGETS)}")
            bad_items(BAD_ITEM_TARGETS[self.endpoint], self.params.get("items"))

    @property
    def spent(self) -> bool:
        return self.count is not None and self.struck >= self.count


class FaultPlan:
    """The active faults, consulted once per gateway request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def strike(self, path: str) -> Fault | None:
        """The fault that hits this request, if any (counting it).

        Every matching fault counts the request towards its ``after``, even when an earlier
        fault is the one that strikes: ``after`` is "requests since the fault was injected".
        """
        hit: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if fault.spent or (fault.endpoint and fault.endpoint != path):
                    continue
                fault.seen += 1
                if hit is None and fault.seen > fault.after:
                    hit = fault
            if hit is not None:
                hit.struck += 1
        return hit

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "kind": f.kind,
                    "endpoint": f.endpoint,
                    "after": f.after,
                    "count": f.count,
                    "struck": f.struck,
                    "params": f.params,
                }
                for f in self._faults
            ]
