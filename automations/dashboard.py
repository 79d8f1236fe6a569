"""Dashboard maths: time windows, bucketed counts, percentiles and SVG chart geometry.

Pure functions only (no database, no Django): the dashboard view aggregates counts with the ORM
and hands them here; the template draws the returned geometry as inline SVG (integers only, so
localisation never touches a coordinate). No JavaScript chart library, nothing inline to run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CHART_WIDTH = 600
CHART_HEIGHT = 120
ROW_HEIGHT = 22
ROW_LABEL_WIDTH = 140
ROW_CHART_WIDTH = 440


@dataclass(frozen=True, slots=True)
class Window:
    """A dashboard time window: how far back it reaches and how it is cut into buckets.

    ``trunc`` names the database truncation that is fine enough for one bucket ("minute" or
    "hour"); counts per truncated time are summed into buckets by :func:`bucketize`.
    """

    key: str
    label: str
    step: timedelta
    buckets: int
    trunc: str
    tick_format: str

    @property
    def span(self) -> timedelta:
        """The whole window."""
        return self.step * self.buckets


WINDOWS: dict[str, Window] = {
    "hour": Window("hour", "Last hour", timedelta(minutes=5), 12, "minute", "%H:%M"),
    "day": Window("day", "Last day", timedelta(hours=1), 24, "hour", "%H:00"),
    "week": Window("week", "Last week", timedelta(hours=6), 28, "hour", "%a %H:00"),
}
DEFAULT_WINDOW = "hour"


def get_window(key: str | None) -> Window:
    """Return the window named ``key``, or the default (last hour) for anything else."""
    return WINDOWS.get(key or "", WINDOWS[DEFAULT_WINDOW])


def bucket_starts(window: Window, now: datetime) -> list[datetime]:
    """Return the start of each bucket, oldest first; the last bucket contains ``now``.

    Buckets are aligned on multiples of the step since the Unix epoch (UTC).
    """
    step = int(window.step.total_seconds())
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((now - epoch).total_seconds())
    last = epoch + timedelta(seconds=seconds - seconds % step)
    return [last - window.step * (window.buckets - 1 - i) for i in range(window.buckets)]


def bucketize(
    rows: Iterable[tuple[datetime, int]], starts: Sequence[datetime], step: timedelta
) -> list[int]:
    """Sum ``(time, count)`` rows into the buckets that begin at ``starts`` (each ``step`` long).

    Rows before the first bucket or after the last one are left out.
    """
    counts = [0] * len(starts)
    if not starts:
        return counts
    first = starts[0]
    for when, count in rows:
        index = math.floor((when - first) / step)
        if 0 <= index < len(starts):
            counts[index] += count
    return counts


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q``-th percentile (0-100) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(part: int, whole: int) -> float | None:
    """Return ``part / whole``, or None when ``whole`` is zero (no rate to speak of)."""
    return part / whole if whole else None


def format_rate(value: float | None) -> str:
    """Render a ratio as a percentage ("12.5 %"), or an em dash without data."""
    return "—" if value is None else f"{value * 100:.1f} %"


def format_seconds(seconds: float | None) -> str:
    """Render a duration for people: "850 ms", "4.2 s", "3.0 min", "1.5 h"; em dash if None."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart, in SVG user units, with what it stands for."""

    label: str
    value: int
    x: int
    y: int
    width: int
    height: int
    css_class: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart ready to draw: its bars inside a ``width`` × ``height`` viewBox, and its total."""

    title: str
    kind: str  # "columns" (a series over time) or "rows" (categories)
    width: int
    height: int
    bars: tuple[Bar, ...]
    total: int
    peak: int
    first_label: str = ""
    last_label: str = ""

    @property
    def is_empty(self) -> bool:
        """True when every bar is zero (the template says so instead of drawing nothing)."""
        return self.total == 0


def column_chart(
    title: str,
    counts: Sequence[int],
    labels: Sequence[str],
    *,
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> Chart:
    """Return a column chart of ``counts`` over time (one column per bucket, labelled).

    Columns are scaled to the highest count; a non-zero count gets at least one unit of height.
    """
    if len(counts) != len(labels):
        raise ValueError("one label per count")
    peak = max(counts, default=0)
    n = max(len(counts), 1)
    slot = width / n
    gap = min(2.0, slot / 4)
    bars: list[Bar] = []
    for index, (count, label) in enumerate(zip(counts, labels, strict=True)):
        bar_height = 0 if peak == 0 else max(1, round(count / peak * (height - 2))) if count else 0
        bars.append(
            Bar(
                label=label,
                value=count,
                x=round(index * slot + gap / 2),
                y=height - bar_height,
                width=max(1, round(slot - gap)),
                height=bar_height,
            )
        )
    return Chart(
        title=title,
        kind="columns",
        width=width,
        height=height,
        bars=tuple(bars),
        total=sum(counts),
        peak=peak,
        first_label=labels[0] if labels else "",
        last_label=labels[-1] if labels else "",
    )


def row_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    classes: dict[str, str] | None = None,
    width: int = ROW_CHART_WIDTH,
) -> Chart:
    """Return a horizontal bar chart, one row per ``(label, count)``, in the order given.

    ``classes`` maps a label to a CSS class for its bar (outcome colours, for instance).
    """
    peak = max((count for _, count in items), default=0)
    room = width - ROW_LABEL_WIDTH - 40
    bars = tuple(
        Bar(
            label=label,
            value=count,
            x=ROW_LABEL_WIDTH,
            y=index * ROW_HEIGHT,
            width=0 if peak == 0 else max(1 if count else 0, round(count / peak * room)),
            height=ROW_HEIGHT - 6,
            css_class=(classes or {}).get(label, ""),
        )
        for index, (label, count) in enumerate(items)
    )
    return Chart(
        title=title,
        kind="rows",
        width=width,
        height=max(ROW_HEIGHT, ROW_HEIGHT * len(items)),
        bars=bars,
        total=sum(count for _, count in items),
        peak=peak,
    )


def series_chart(
    title: str,
    rows: Iterable[tuple[datetime, int]],
    window: Window,
    now: datetime,
) -> Chart:
    """Bucket ``(time, count)`` rows over ``window`` ending at ``now`` into a column chart."""
    starts = bucket_starts(window, now)
    counts = bucketize(rows, starts, window.step)
    labels = [start.strftime(window.tick_format) for start in starts]
    return column_chart(title, counts, labels)


def per_minute(total: int, window: Window) -> float:
    """Return the average rate per minute of ``total`` arrivals over ``window``."""
    return total / (window.span.total_seconds() / 60)
