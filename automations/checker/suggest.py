"""Did-you-mean suggestions by edit distance, ignoring case, underscores and hyphens."""

from __future__ import annotations

from collections.abc import Iterable


def normalize(name: str) -> str:
    """Return ``name`` folded for comparison: lower case, without ``_``, ``-`` and spaces."""
    return "".join(ch for ch in name.casefold() if ch not in "_- ")


def edit_distance(a: str, b: str) -> int:
    """Return the optimal string alignment distance between ``a`` and ``b``.

    Insertions, deletions, substitutions and swaps of two neighbouring characters cost 1 each,
    so the common typo ``lifecylce`` is one edit away from ``lifecycle``.
    """
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _max_distance(name: str) -> int:
    # Short names tolerate one typo; longer ones up to a third of their letters, capped at 3,
    # so "tag" suggests "tags" but "qty" never suggests "sku".
    return max(1, min(3, len(name) // 3))


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name``, or None when none is plausibly meant.

    A candidate equal to ``name`` once case, underscores and hyphens are ignored wins
    (``lifecycleStage`` → ``lifecycle_stage``); otherwise the one with the smallest edit
    distance within a budget that grows with the length of ``name``; ties keep candidate order.
    """
    wanted = normalize(name)
    if not wanted:
        return None
    best: str | None = None
    best_distance = _max_distance(wanted) + 1
    for candidate in candidates:
        if candidate == name:
            continue
        distance = edit_distance(wanted, normalize(candidate))
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"Did you mean <closest>?"`` or ``""`` when nothing is close enough."""
    match = closest(name, candidates)
    return f"Did you mean {match}?" if match else ""
