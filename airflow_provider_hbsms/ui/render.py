"""The campaign page as HTML: the same page inside the Airflow UI and as a report file.

The page carries its data as JSON and draws its charts with Chart.js (``ui/static``, shipped
with the package: no CDN). Inside the UI the library is loaded from the plugin's static
route; in a report file it is inlined, so the file opens anywhere, offline.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_hbsms.ui.funnel import Funnel
    from airflow_provider_hbsms.ui.timeline import Timeline

#: The charting library file shipped in ``ui/static`` (version and licence: docs/ui.md).
CHART_JS = "chart.umd.min.js"

_STYLE = """
:root { --fg:#1a202c; --muted:#5f6b7a; --line:#e2e8f0; --bg:#f7f9fb; --card:#fff;
  --sent:#3182ce; --accepted:#805ad5; --delivered:#2f855a; --failed:#c53030;
  --pending:#b7791f; --replies:#0987a0; }
* { box-sizing:border-box; }
body { margin:0; padding:20px 24px 32px; background:var(--bg); color:var(--fg);
  font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
  "Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Zen Hei",
  sans-serif; }
h1 { font-size:20px; margin:0 0 2px; font-weight:600; }
h2 { font-size:15px; margin:0 0 10px; font-weight:600; }
a { color:var(--sent); text-decoration:none; } a:hover { text-decoration:underline; }
.sub { color:var(--muted); font-size:13px; margin-bottom:14px; overflow-wrap:anywhere; }
.sub code { background:#edf2f7; padding:1px 5px; border-radius:4px; }
.campaign { margin-bottom:28px; }
.campaign > h2 { font-size:17px; margin-bottom:2px; overflow-wrap:anywhere; }
.tiles { display:grid; grid-template-columns:repeat(5,1fr); gap:10px; margin-bottom:14px; }
@media (min-width:1180px) { .tiles { grid-template-columns:repeat(10,1fr); } }
@media (max-width:520px) { .tiles { grid-template-columns:repeat(2,1fr); } }
.tile { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:10px 12px; border-top:3px solid var(--line); }
.tile .label { color:var(--muted); font-size:11px; text-transform:uppercase;
  letter-spacing:.04em; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.tile .n { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.tile .pct { color:var(--muted); font-size:12px; margin-left:4px; }
.tile.sent { border-top-color:var(--sent); }
.tile.accepted { border-top-color:var(--accepted); }
.tile.delivered { border-top-color:var(--delivered); }
.tile.failed { border-top-color:var(--failed); }
.tile.pending { border-top-color:var(--pending); } .tile.replies,.tile.opt_outs
  { border-top-color:var(--replies); }
.tile.warn { background:#fff5f5; border-color:#feb2b2; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(340px,1fr)); gap:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px; }
.chart { position:relative; height:240px; }
.card.wide { grid-column:span 2; }
@media (max-width:760px) { .card.wide { grid-column:auto; } }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.empty { color:var(--muted); padding:8px 0; }
.badge { display:inline-block; padding:0 6px; border-radius:9px; font-size:11px;
  background:#fed7d7; color:#9b2c2c; }
.notice { background:#fffaf0; border:1px solid #fbd38d; border-radius:8px; padding:10px 12px;
  margin-bottom:14px; }
footer { color:var(--muted); font-size:12px; margin-top:18px; }
"""

_SCRIPT = """
(function () {
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue("--" + name).trim();
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = color("muted");
  Chart.defaults.animation = false;
  const data = JSON.parse(document.getElementById("hbsms-data").textContent);
  data.campaigns.forEach((c, i) => {
    const stageColor = {rows: "#a0aec0", valid: "#718096", sent: color("sent"),
      accepted: color("accepted"), delivered: color("delivered")};
    new Chart(document.getElementById("funnel-" + i), {
      type: "bar",
      data: {labels: c.funnel.stages.map((s) => s[0]),
        datasets: [{label: "messages", data: c.funnel.stages.map((s) => s[1]),
          backgroundColor: c.funnel.stages.map((s) => stageColor[s[0]])}]},
      options: {indexAxis: "y", maintainAspectRatio: false,
        plugins: {legend: {display: false}},
        scales: {x: {beginAtZero: true, ticks: {precision: 0}}}},
    });
    const t = c.timeline;
    const line = (name, label) => ({label: label, data: t.series[name], borderColor: color(name),
      backgroundColor: color(name), pointRadius: 0, borderWidth: 2, tension: 0.2});
    new Chart(document.getElementById("timeline-" + i), {
      type: "line",
      data: {labels: t.labels, datasets: [line("sent", "sent"),
        line("accepted", "accepted"), line("delivered", "delivered"),
        line("failed", "failed"), line("replies", "replies")]},
      options: {maintainAspectRatio: false, interaction: {mode: "index", intersect: false},
        plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}},
        scales: {y: {beginAtZero: true, ticks: {precision: 0}},
          x: {ticks: {maxTicksLimit: 8}}}},
    });
    const reasons = Object.entries(c.funnel.failed_by_reason);
    const outcome = document.getElementById("outcome-" + i);
    new Chart(outcome, {
      type: "doughnut",
      data: {labels: ["delivered", "pending"].concat(reasons.map((r) => "failed " + r[0])),
        datasets: [{data: [c.funnel.delivered, c.funnel.pending].concat(
          reasons.map((r) => r[1])),
          backgroundColor: [color("delivered"), color("pending")].concat(
            reasons.map((r, k) => ["#c53030", "#e53e3e", "#fc8181", "#9b2c2c",
              "#feb2b2"][k % 5]))}]},
      options: {maintainAspectRatio: false,
        plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}}},
    });
  });
  document.body.dataset.chartsReady = "true";
})();
"""


@cache
def chart_library() -> str:
    """The Chart.js UMD build shipped with the package."""
    return files("airflow_provider_hbsms.ui").joinpath("static", CHART_JS).read_text("utf-8")


def render_page(
    title: str,
    sections: Sequence[tuple[Funnel, Timeline, list[dict[str, Any]]]],
    *,
    inline_library: bool,
    static_prefix: str = "static/",
    subtitle: str = "",
    links: dict[str, str] | None = None,
    show_title: bool = True,
) -> str:
    """The HTML of one or more campaigns.

    :param title: the page heading.
    :param sections: each campaign's funnel, timeline and recent replies.
    :param inline_library: put Chart.js into the page (a report file) instead of loading it
        from ``static_prefix`` (the UI).
    :param static_prefix: where the served page loads the library from.
    :param subtitle: a line under the heading.
    :param links: campaign key -> URL of the campaign's own page (the run view links them).
    :param show_title: show ``title`` as the page's heading (a single campaign's section has
        its own).
    """
    data = {
        "campaigns": [
            {"funnel": funnel.as_dict(), "timeline": timeline.as_dict()}
            for funnel, timeline, _ in sections
        ]
    }
    body = "".join(
        _section(i, funnel, replies, (links or {}).get(funnel.campaign_key))
        for i, (funnel, _, replies) in enumerate(sections)
    )
    if not sections:
        body = '<p class="empty">No campaign was sent here (yet).</p>'
    if inline_library:
        library = f"<script>{_script_safe(chart_library())}</script>"
    else:
        library = f'<script src="{escape(static_prefix)}{CHART_JS}"></script>'
    payload = _script_safe(json.dumps(data, ensure_ascii=False))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        + (f"<h1>{escape(title)}</h1>" if show_title else "")
        + (f'<div class="sub">{subtitle}</div>' if subtitle else "")
        + body
        + f'<script type="application/json" id="hbsms-data">{payload}</script>'
        + library
        + (f"<script>{_SCRIPT}</script>" if sections else "")
        + "</body></html>\n"
    )


def render_list(title: str, campaigns: list[dict[str, Any]], link: str) -> str:
    """The navigation page: recent campaigns, each linked to its page.

    :param link: the campaign page's path; ``?dag_id=...&key=...`` is appended.
    """
    rows = "".join(
        "<tr>"
        f'<td><a href="{escape(link)}?{escape(urlencode(_keys(c)))}">'
        f"{escape(c['campaign_key'])}</a></td>"
        f"<td>{escape(c['dag_id'])}</td><td>{escape(c['run_id'])}</td>"
        f"<td>{escape(c['updated_at'])}</td></tr>"
        for c in campaigns
    )
    table = (
        "<table><thead><tr><th>campaign</th><th>DAG</th><th>run</th><th>last activity (UTC)</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
        if campaigns
        else '<p class="empty">No campaign in the store yet.</p>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><div class="sub">Newest first. A campaign page shows its '
        "funnel, delivery over time, failures by reason and replies.</div>"
        f'<div class="card">{table}</div></body></html>\n'
    )


def _keys(listing: dict[str, Any]) -> dict[str, str]:
    return {"dag_id": listing["dag_id"], "key": listing["campaign_key"]}


def _section(i: int, funnel: Funnel, replies: list[dict[str, Any]], link: str | None) -> str:
    heading = escape(funnel.campaign_key)
    if link:
        heading = f'<a href="{escape(link)}">{heading}</a>'
    where = ""
    if funnel.dag_id:
        where = (
            f"DAG <code>{escape(funnel.dag_id)}</code> · task <code>{escape(funnel.task_id)}"
            f"</code>{_map_index(funnel.map_index)} · run <code>{escape(funnel.run_id)}</code>"
        )
    times = ""
    if funnel.started_at:
        times = f" · started {funnel.started_at:%Y-%m-%d %H:%M:%S} UTC"
    if funnel.updated_at:
        times += f" · last activity {funnel.updated_at:%H:%M:%S} UTC"
    notice = ""
    if funnel.unknown_batches:
        shown = ", ".join(str(b) for b in funnel.unknown_batches[:20])
        notice = (
            f'<div class="notice" data-count="unknown_batch_numbers">Outcome unknown for '
            f"batch(es) {escape(shown)}: they were not resent. See the sending guide on "
            "unknown outcomes.</div>"
        )
    return (
        f'<section class="campaign" data-campaign="{escape(funnel.campaign_key)}">'
        f'<h2>{heading}</h2><div class="sub">{where}{times}</div>{notice}'
        f'<div class="tiles">{_tiles(funnel)}</div>'
        '<div class="grid">'
        f'<div class="card"><h2>Funnel</h2><div class="chart"><canvas id="funnel-{i}" '
        'aria-label="funnel"></canvas></div></div>'
        f'<div class="card"><h2>Over time (cumulative, UTC)</h2><div class="chart">'
        f'<canvas id="timeline-{i}" aria-label="timeline"></canvas></div></div>'
        f'<div class="card"><h2>Outcome of sent messages</h2><div class="chart">'
        f'<canvas id="outcome-{i}" aria-label="outcome"></canvas></div></div>'
        f'<div class="card"><h2>Failed by reason</h2>{_reasons(funnel)}'
        f'<h2 style="margin-top:14px">Batches</h2>{_batches(funnel)}</div>'
        f'<div class="card wide"><h2>Latest replies</h2>{_replies(replies)}'
        "</div></div></section>"
    )


def _map_index(map_index: int) -> str:
    return f" [{map_index}]" if map_index >= 0 else ""


def _tiles(funnel: Funnel) -> str:
    def pct(part: int, whole: int | None) -> str:
        return f'<span class="pct">{part / whole:.0%}</span>' if whole else ""

    tiles: list[tuple[str, str, int, str]] = []
    if funnel.rows is not None:
        tiles += [("rows", "rows", funnel.rows, ""), ("valid", "valid", funnel.valid or 0, "")]
    tiles += [
        ("sent", "sent", funnel.sent, ""),
        ("accepted", "accepted", funnel.accepted, pct(funnel.accepted, funnel.sent)),
        ("delivered", "delivered", funnel.delivered, pct(funnel.delivered, funnel.sent)),
        ("failed", "failed", funnel.failed, pct(funnel.failed, funnel.sent)),
        ("pending", "pending", funnel.pending, ""),
        ("unknown_batches", "unknown", len(funnel.unknown_batches), ""),
        ("replies", "replies", funnel.replies, ""),
        ("opt_outs", "opt-outs", funnel.opt_outs, ""),
    ]
    html = []
    for key, label, value, extra in tiles:
        warn = " warn" if key == "unknown_batches" and value else ""
        html.append(
            f'<div class="tile {key}{warn}"><div class="label">{label}</div>'
            f'<span class="n" data-count="{key}">{value}</span>{extra}</div>'
        )
    return "".join(html)


def _reasons(funnel: Funnel) -> str:
    if not funnel.failed_by_reason:
        return '<p class="empty">No failures.</p>'
    rows = "".join(
        f'<tr><td>{escape(reason)}</td><td class="num" data-reason="{escape(reason)}">{count}'
        "</td></tr>"
        for reason, count in funnel.failed_by_reason.items()
    )
    head = '<thead><tr><th>code</th><th class="num">messages</th></tr></thead>'
    return f"<table>{head}{rows}</table>"


def _batches(funnel: Funnel) -> str:
    if not funnel.batches:
        return '<p class="empty">No batch sent.</p>'
    rows = "".join(
        f'<tr><td>{escape(state)}</td><td class="num" data-batches="{escape(state)}">{count}'
        "</td></tr>"
        for state, count in sorted(funnel.batches.items())
    )
    head = '<thead><tr><th>state</th><th class="num">batches</th></tr></thead>'
    return f"<table>{head}{rows}</table>"


_OPTED_OUT = '<span class="badge">opted out</span>'


def _replies(replies: list[dict[str, Any]]) -> str:
    if not replies:
        return '<p class="empty">No replies yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(r['received_at'][:19].replace('T', ' '))}</td>"
        f"<td>{escape(r['mobile'])}</td><td>{escape(r['content'])}</td>"
        f"<td>{_OPTED_OUT if r['opted_out'] else ''}</td></tr>"
        for r in replies
    )
    return (
        "<table><thead><tr><th>received (UTC)</th><th>number</th><th>text</th><th></th></tr>"
        f"</thead>{rows}</table>"
    )


def _script_safe(text: str) -> str:
    """Text that cannot close the ``<script>`` element it is put in."""
    return text.replace("</", "<\\/")
