"""A patient's stored learned state carried over to a program's current action space.

A program's action space changes: a practice adds a framing, drops a channel, or a run
narrows a program to SMS (the demo's check-in pilot). Stored state is arrays indexed by the
space it was learned in, so reading it into another space crashed every decision and every
console page for those patients. Each stored row names its space (``space``: the values of
each factor), so what is known about a value that is still offered is kept, and a value new
to the space starts at the prior, as for a new patient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from careloop.personalize.actions import ActionSpace

_FLAT = ("offset_mean", "sent", "responded", "prior_diag")
_PAIR_COUNTS = ("pair_sent", "pair_responded")


def _flat(space: list[list[str]]) -> list[tuple[int, str]]:
    return [(f, value) for f, values in enumerate(space) for value in values]


def fit_to_space(
    row: dict[str, Any], space: ActionSpace, template: dict[str, Any]
) -> dict[str, Any] | None:
    """``row`` in ``space``'s shape; ``template`` is the prior state in that shape (what a
    patient with no history has). None when the row's space is unknown and does not fit."""
    current = [list(values) for _, values in space.factors]
    stored = row.get("space")
    if stored == current:
        return row
    if stored is None:
        fits = len(row.get("offset_mean") or []) == len(template["offset_mean"])
        return row if fits else None
    old = {key: k for k, key in enumerate(_flat(stored))}
    new_to_old = [(j, old[key]) for j, key in enumerate(_flat(current)) if key in old]
    out: dict[str, Any] = {key: np.array(value, dtype=np.float64) for key, value in template.items()
                           if key not in ("space", "updated_at")}  # fmt: skip
    out["updated_at"] = row.get("updated_at")
    js = np.array([j for j, _ in new_to_old], dtype=np.int64)
    ks = np.array([k for _, k in new_to_old], dtype=np.int64)
    for key in _FLAT:
        if key in row and js.size:
            out[key][js] = np.asarray(row[key], dtype=np.float64)[ks]
    if js.size:
        out["offset_cov"][np.ix_(js, js)] = np.asarray(row["offset_cov"])[np.ix_(ks, ks)]
    _fit_cells(row, out, stored, current)
    return {key: (v.tolist() if isinstance(v, np.ndarray) else v) for key, v in out.items()}


def _fit_cells(
    row: dict[str, Any], out: dict[str, Any], stored: list[list[str]], current: list[list[str]]
) -> None:
    """The channel x window cells: counts, means and (co)variances of the cells kept."""
    pairs = [
        (c * len(current[1]) + w, stored[0].index(ch) * len(stored[1]) + stored[1].index(win))
        for c, ch in enumerate(current[0])
        for w, win in enumerate(current[1])
        if ch in stored[0] and win in stored[1]
    ]
    if not pairs:
        return
    js = np.array([j for j, _ in pairs], dtype=np.int64)
    ks = np.array([k for _, k in pairs], dtype=np.int64)
    for key in _PAIR_COUNTS:
        if key in row:
            flat = out[key].reshape(-1)
            flat[js] = np.asarray(row[key], dtype=np.float64).reshape(-1)[ks]
            out[key] = flat.reshape(out[key].shape)
    if "pair_mean" in row:
        out["pair_mean"][js] = np.asarray(row["pair_mean"], dtype=np.float64)[ks]
    if "pair_cov" in row:
        if "pair_precision" in out:
            precision = out.pop("pair_precision")
            out["pair_cov"] = np.diag(1.0 / precision)
            out["pair_prior"] = np.diag(precision)
        out["pair_cov"][np.ix_(js, js)] = np.asarray(row["pair_cov"])[np.ix_(ks, ks)]
        out["pair_prior"][np.ix_(js, js)] = np.asarray(row["pair_prior"])[np.ix_(ks, ks)]
    elif "pair_precision" in row:
        target = out.get("pair_precision")
        if target is not None:
            target[js] = np.asarray(row["pair_precision"], dtype=np.float64)[ks]
