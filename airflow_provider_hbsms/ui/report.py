"""The campaign view as files: a self-contained HTML page, and a PNG of the funnel.

The HTML page is the UI's page with Chart.js inlined: it opens in any browser, offline, with
no plugin and no Airflow. The PNG is drawn with matplotlib (the ``report`` extra), for mail
and chat; without matplotlib only the HTML page is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_hbsms.ui.funnel import campaign_funnel
from airflow_provider_hbsms.ui.queries import recent_replies
from airflow_provider_hbsms.ui.render import render_page
from airflow_provider_hbsms.ui.timeline import campaign_timeline

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.ui.funnel import Funnel

#: Stage colours, the same as the page's.
_COLOURS = {
    "rows": "#a0aec0",
    "valid": "#718096",
    "sent": "#3182ce",
    "accepted": "#805ad5",
    "delivered": "#2f855a",
    "failed": "#c53030",
    "pending": "#b7791f",
}


@dataclass(frozen=True)
class ReportFiles:
    """The files a report wrote.

    :param html: the self-contained HTML page.
    :param png: the funnel as a PNG (None without matplotlib).
    :param funnels: the counts shown, one per campaign.
    """

    html: Path
    png: Path | None
    funnels: list[Funnel]


def file_stem(campaign_keys: Sequence[str]) -> str:
    """A file name for the campaigns' report (their key, made safe for any file system)."""
    name = campaign_keys[0] if len(campaign_keys) == 1 else f"{campaign_keys[0]}+more"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120] or "campaign"


def write_report(
    store: Store,
    campaign_keys: Sequence[str],
    directory: Path | str,
    *,
    stem: str | None = None,
    png: bool = True,
) -> ReportFiles:
    """Write the campaigns' report into ``directory`` (made if missing).

    :param store: the store to read.
    :param campaign_keys: the campaigns, one section each.
    :param directory: where the files go.
    :param stem: the files' name without suffix (default: from the campaign key).
    :param png: also draw the funnel PNG (when matplotlib is installed).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem or file_stem(campaign_keys)
    sections = [
        (
            campaign_funnel(store, key),
            campaign_timeline(store, key),
            recent_replies(store, key, limit=50),
        )
        for key in campaign_keys
    ]
    title = "Campaign report" if len(sections) == 1 else "Campaigns report"
    html = directory / f"{stem}.html"
    html.write_text(
        render_page(title, sections, inline_library=True, show_title=len(sections) > 1),
        encoding="utf-8",
    )
    funnels = [funnel for funnel, _, _ in sections]
    image = directory / f"{stem}.png" if png and sections else None
    if image is not None and not draw_funnel_png(funnels, image):
        image = None
    return ReportFiles(html, image, funnels)


def draw_funnel_png(funnels: Sequence[Funnel], path: Path) -> bool:
    """Draw each campaign's funnel and outcome as bars into ``path``; False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: a file only
        from matplotlib import pyplot as plt
    except ImportError:
        return False
    height = 2.6 + 1.6 * len(funnels)
    figure, axes = plt.subplots(len(funnels), 1, figsize=(8, height), squeeze=False)
    for axis, funnel in zip(axes[:, 0], funnels, strict=True):
        stages = [*funnel.stages(), ("failed", funnel.failed), ("pending", funnel.pending)]
        names = [name for name, _ in stages][::-1]
        values = [value for _, value in stages][::-1]
        bars = axis.barh(names, values, color=[_COLOURS[n] for n in names])
        axis.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=9)
        axis.set_title(funnel.campaign_key, fontsize=10, loc="left")
        axis.spines[["top", "right"]].set_visible(False)
        axis.set_xlim(0, max([*values, 1]) * 1.15)
        axis.tick_params(labelsize=9)
        axis.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle("HB SMS campaign funnel", fontsize=12, x=0.02, ha="left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
