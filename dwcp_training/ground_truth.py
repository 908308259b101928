"""Ground-truth events for the evaluation: node incidents and consensus-latency episodes.

Two sources, on purpose:
- Latency EPISODES are derived from the labels themselves: a contiguous run of
  `is_high_latency = 1` rows on one link is one episode. That works on real telemetry too, where
  incident tooling labels rows but nobody hands over an event list.
- Event TYPES (crash, partition, ...) come from `labeled_incidents.json` when there is one (the
  simulator writes it beside the data): incidents give (node_id, type, start/end epoch) and
  episodes give (group = datacenter_id, type, start/end epoch). Without that file the evaluation
  still reports episode recall and delay, just not broken down by type.

Positions: the evaluation works in "sorted positions", the rows of the test frame ordered by
(link, time) exactly as the window step orders them, so that a window ending at position p
covers positions p - seq_len + 1 .. p of one link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dwcp_training.errors import DataError

INCIDENTS_FILE = "labeled_incidents.json"
UNTYPED = "untyped"


@dataclass(frozen=True)
class LabeledEvents:
    """The typed events of `labeled_incidents.json` (times in epoch seconds, end exclusive)."""

    incidents: pd.DataFrame  # node_id, type, start_epoch, end_epoch
    episodes: pd.DataFrame  # group, type, start_epoch, end_epoch
    source: str


def load_events(path: str | Path) -> LabeledEvents:
    """Read a `labeled_incidents.json`; a malformed file is a DataError naming what is wrong."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(str(path), f"cannot read the incidents file: {exc}") from None
    frames = {}
    for key, owner in (("incidents", "node_id"), ("episodes", "group")):
        entries = doc.get(key, []) if isinstance(doc, dict) else None
        wanted = [owner, "type", "start_epoch", "end_epoch"]
        if not isinstance(entries, list) or any(
            not isinstance(e, dict) or any(k not in e for k in wanted) for e in entries
        ):
            raise DataError(
                str(path), f"'{key}' must be a list of objects with keys {', '.join(wanted)}"
            )
        frame = pd.DataFrame(entries, columns=wanted)
        frame[owner] = frame[owner].astype(str)
        frame["type"] = frame["type"].astype(str)
        frame[["start_epoch", "end_epoch"]] = frame[["start_epoch", "end_epoch"]].astype(np.int64)
        frames[key] = frame
    return LabeledEvents(frames["incidents"], frames["episodes"], str(path))


def _codes(values: pd.Series, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of `values` and of `keys` in one shared vocabulary (-1: key not present)."""
    codes, uniques = pd.factorize(values.astype(str))
    lookup = pd.Index(uniques)
    return codes, lookup.get_indexer(keys.astype(str))


def event_of_rows(
    owner: pd.Series, epoch: np.ndarray, events: pd.DataFrame, owner_column: str
) -> np.ndarray:
    """Index into `events` of the event each row falls in (owner matches, start <= epoch < end).

    -1 outside any event. When events overlap, the first listed wins (the file lists them in
    time order).
    """
    out = np.full(len(owner), -1, dtype=np.int64)
    if events.empty:
        return out
    row_codes, event_codes = _codes(owner, events[owner_column])
    epoch = np.asarray(epoch, np.int64)
    starts = events["start_epoch"].to_numpy(np.int64)
    ends = events["end_epoch"].to_numpy(np.int64)
    for i, code in enumerate(event_codes):
        if code < 0:
            continue
        mask = (row_codes == code) & (epoch >= starts[i]) & (epoch < ends[i]) & (out < 0)
        out[mask] = i
    return out


def runs(flag_sorted: np.ndarray, link_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) sorted positions (inclusive) of each run of True inside one link."""
    flag = np.asarray(flag_sorted).astype(bool)
    link = np.asarray(link_sorted)
    if flag.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    new_link = np.r_[True, link[1:] != link[:-1]]
    prev = np.r_[False, flag[:-1]] & ~new_link
    nxt = np.r_[flag[1:], False] & ~np.r_[new_link[1:], True]
    return np.flatnonzero(flag & ~prev), np.flatnonzero(flag & ~nxt)


@dataclass(frozen=True)
class EpisodeDetection:
    """Per episode: whether a window could see it, whether one flagged it, and how late."""

    start: np.ndarray  # sorted position of the episode's first row
    end: np.ndarray  # sorted position of its last row
    covered: np.ndarray  # bool: at least one window overlaps it
    detected: np.ndarray  # bool: at least one overlapping window is flagged
    delay_steps: np.ndarray  # float: first flagged window's last row - episode start (NaN: none)
    delay_s: np.ndarray  # the same in seconds


def detect_episodes(
    start: np.ndarray,
    end: np.ndarray,
    window_end: np.ndarray,
    flagged: np.ndarray,
    seq_len: int,
    epoch_sorted: np.ndarray,
) -> EpisodeDetection:
    """Match episodes with the windows that overlap them.

    A window ending at sorted position p covers p - seq_len + 1 .. p, so it overlaps the episode
    [s, e] iff s <= p <= e + seq_len - 1 (windows never cross links, so no link check is needed).
    The delay runs from the first moment a window could see the episode (the window ending at
    its first row, or the link's first full window when the episode was already under way when
    the file starts) to the last row of the first flagged overlapping window: the moment the
    detector, fed that window, raises the alarm.
    """
    window_end = np.asarray(window_end, np.int64)
    start = np.asarray(start, np.int64)
    order = np.argsort(window_end, kind="stable")
    all_ends = window_end[order]
    flagged_ends = all_ends[np.asarray(flagged).astype(bool)[order]]
    last = np.asarray(end, np.int64) + seq_len - 1

    def first_overlapping(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(ends) == 0:
            return np.zeros(len(start), bool), np.zeros(len(start), np.int64)
        i = np.searchsorted(ends, start, side="left")
        pos = ends[np.minimum(i, len(ends) - 1)]
        return (i < len(ends)) & (pos <= last), pos

    covered, earliest = first_overlapping(all_ends)
    detected, first = first_overlapping(flagged_ends)
    detected &= covered
    epoch_sorted = np.asarray(epoch_sorted, np.int64)
    steps = np.where(detected, first - earliest, np.nan)
    seconds = np.where(
        detected,
        epoch_sorted[np.where(detected, first, 0)] - epoch_sorted[np.where(detected, earliest, 0)],
        np.nan,
    )
    return EpisodeDetection(
        start=start,
        end=np.asarray(end, np.int64),
        covered=covered,
        detected=detected,
        delay_steps=steps.astype(np.float64),
        delay_s=seconds.astype(np.float64),
    )
