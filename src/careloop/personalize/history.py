"""Per-patient learned state: offsets from the pooled model, the counts explanations quote.

Kept apart from the posterior updates (:mod:`careloop.personalize.model`) because it is
also what the service stores with each profile and what the engine slices per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import FloatArray, IntArray
from careloop.personalize.remap import fit_to_space


def value_offsets(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Start of each factor's values in the flat list of all factor values."""
    out, total = [], 0
    for size in sizes:
        out.append(total)
        total += size
    return tuple(out)


def diagonal_matrices(rows: FloatArray) -> FloatArray:
    """N x V -> N x V x V diagonal matrices."""
    out = np.zeros((*rows.shape, rows.shape[1]))
    idx = np.arange(rows.shape[1])
    out[:, idx, idx] = rows
    return out


@dataclass
class HistorySummary:
    """Per-patient learned state for ``n`` patients: offsets, counts, last update time.

    ``offset_mean`` (N x V) and ``offset_cov`` (N x V x V) cover all V factor values;
    ``pair_mean`` (N x C) and ``pair_cov`` (N x C x C) the channel x window cells, whose
    prior (``pair_prior``, a precision matrix per patient) is learned from everybody, so a
    reply in one cell also says something about the cells that go with it. The counts
    (messages sent and answered per factor value, and per channel x window) are what
    explanations quote.
    """

    sizes: tuple[int, ...]
    offset_mean: FloatArray
    offset_cov: FloatArray
    sent: FloatArray
    responded: FloatArray
    pair_sent: FloatArray
    pair_responded: FloatArray
    updated_at: FloatArray
    offset_prior_precision: float
    pair_mean: FloatArray
    pair_cov: FloatArray
    pair_prior_precision: float
    prior_diag: FloatArray
    pair_prior: FloatArray

    @classmethod
    def empty(
        cls,
        n: int,
        space: ActionSpace,
        *,
        prior_precision: float | FloatArray,
        pair_prior_precision: float = 4.0,
        pair_prior: FloatArray | None = None,
    ) -> HistorySummary:
        """No history; ``prior_precision`` is one number or one per factor value;
        ``pair_prior`` a learned C x C prior precision of the cells (else diagonal)."""
        sizes = space.sizes
        v = sum(sizes)
        cells = sizes[0] * sizes[1]
        prior = np.broadcast_to(np.asarray(prior_precision, dtype=np.float64), (v,))
        cell_prior = (
            np.eye(cells) * pair_prior_precision
            if pair_prior is None
            else np.asarray(pair_prior, dtype=np.float64)
        )
        return cls(
            sizes=sizes,
            offset_mean=np.zeros((n, v)),
            offset_cov=np.broadcast_to(np.diag(1.0 / prior), (n, v, v)).copy(),
            sent=np.zeros((n, v)),
            responded=np.zeros((n, v)),
            pair_sent=np.zeros((n, sizes[0], sizes[1])),
            pair_responded=np.zeros((n, sizes[0], sizes[1])),
            updated_at=np.full(n, np.nan),
            offset_prior_precision=float(prior.mean()),
            pair_mean=np.zeros((n, cells)),
            pair_cov=np.broadcast_to(np.linalg.inv(cell_prior), (n, cells, cells)).copy(),
            pair_prior_precision=pair_prior_precision,
            prior_diag=np.broadcast_to(prior, (n, v)).copy(),
            pair_prior=np.broadcast_to(cell_prior, (n, cells, cells)).copy(),
        )

    @property
    def n(self) -> int:
        return int(self.updated_at.shape[0])

    def factor_slice(self, f: int) -> slice:
        start = value_offsets(self.sizes)[f]
        return slice(start, start + self.sizes[f])

    def take(self, rows: IntArray | list[int] | slice) -> HistorySummary:
        """The patients ``rows`` (in that order): a copy, or views for a slice (the engine
        decides chunk by chunk and only reads)."""
        idx: IntArray | slice = (
            rows if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
        )

        def part(values: FloatArray) -> FloatArray:
            return values[idx] if isinstance(idx, slice) else values[idx].copy()

        return HistorySummary(
            sizes=self.sizes,
            offset_mean=part(self.offset_mean),
            offset_cov=part(self.offset_cov),
            sent=part(self.sent),
            responded=part(self.responded),
            pair_sent=part(self.pair_sent),
            pair_responded=part(self.pair_responded),
            updated_at=part(self.updated_at),
            offset_prior_precision=self.offset_prior_precision,
            pair_mean=part(self.pair_mean),
            pair_cov=part(self.pair_cov),
            pair_prior_precision=self.pair_prior_precision,
            prior_diag=part(self.prior_diag),
            pair_prior=part(self.pair_prior),
        )

    def row_json(self, i: int) -> dict[str, Any]:
        """One patient's state, for storage with their profile. Independent cells (no
        learned covariance) are stored as one precision per cell, as before it existed."""
        cov, prior = self.pair_cov[i], self.pair_prior[i]
        independent = not np.any(cov - np.diag(np.diagonal(cov))) and np.array_equal(
            prior, np.eye(prior.shape[0]) * self.pair_prior_precision
        )
        cells: dict[str, Any] = (
            {"pair_precision": (1.0 / np.diagonal(cov)).tolist()}
            if independent
            else {"pair_cov": cov.tolist(), "pair_prior": prior.tolist()}
        )
        return {
            "offset_mean": self.offset_mean[i].tolist(),
            "offset_cov": self.offset_cov[i].tolist(),
            "sent": self.sent[i].tolist(),
            "responded": self.responded[i].tolist(),
            "pair_sent": self.pair_sent[i].tolist(),
            "pair_responded": self.pair_responded[i].tolist(),
            "updated_at": None if np.isnan(self.updated_at[i]) else float(self.updated_at[i]),
            "pair_mean": self.pair_mean[i].tolist(),
            "prior_diag": self.prior_diag[i].tolist(),
            **cells,
        }

    @classmethod
    def from_rows(
        cls,
        rows: list[dict[str, Any] | None],
        space: ActionSpace,
        *,
        prior_precision: float | FloatArray,
        pair_prior_precision: float = 4.0,
        pair_prior: FloatArray | None = None,
    ) -> HistorySummary:
        """Rebuild from stored rows; ``None`` means a patient with no history yet. Rows
        stored before cell offsets existed start those at the prior; rows stored with
        independent cells (a precision per cell) keep them, with a diagonal prior; rows
        learned in another action space keep what they know of the values still offered."""
        out = cls.empty(
            len(rows),
            space,
            prior_precision=prior_precision,
            pair_prior_precision=pair_prior_precision,
            pair_prior=pair_prior,
        )
        for i, stored in enumerate(rows):
            row = fit_to_space(stored, space, out.row_json(i)) if stored else None
            if not row:
                continue
            out.offset_mean[i] = row["offset_mean"]
            out.offset_cov[i] = row["offset_cov"]
            out.sent[i] = row["sent"]
            out.responded[i] = row["responded"]
            out.pair_sent[i] = row["pair_sent"]
            out.pair_responded[i] = row["pair_responded"]
            out.updated_at[i] = np.nan if row["updated_at"] is None else row["updated_at"]
            if "pair_cov" in row:
                out.pair_mean[i] = row["pair_mean"]
                out.pair_cov[i] = row["pair_cov"]
                out.pair_prior[i] = row["pair_prior"]
            elif "pair_precision" in row:
                out.pair_mean[i] = row["pair_mean"]
                out.pair_cov[i] = np.diag(1.0 / np.asarray(row["pair_precision"]))
                out.pair_prior[i] = np.eye(out.pair_mean.shape[1]) * pair_prior_precision
            out.prior_diag[i] = row.get("prior_diag", 1.0 / np.diagonal(out.offset_cov[i]))
        return out


def own_offsets(state: dict[str, Any], sizes: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    """Per factor value, a stored patient's own offset (mean, sd) as the profile shows it.

    Where cells carry the patient's channel and window tastes, a channel's offset is its
    factor offset plus the mean of its row of cells (a window's: of its column), so the
    profile still reads "this patient answers calls" whatever part of the model holds it.
    """
    mean = np.asarray(state["offset_mean"], dtype=np.float64).copy()
    var = np.diagonal(np.asarray(state["offset_cov"], dtype=np.float64)).copy()
    if "pair_cov" not in state:
        return mean, np.sqrt(np.maximum(var, 0.0))
    channels, windows = sizes[0], sizes[1]
    cells = np.asarray(state["pair_mean"], dtype=np.float64).reshape(channels, windows)
    cell_cov = np.asarray(state["pair_cov"], dtype=np.float64)
    rows = np.kron(np.eye(channels), np.ones(windows)) / windows  # channel -> its row's mean
    cols = np.kron(np.ones(channels), np.eye(windows)) / channels  # window -> its column's
    mean[:channels] += cells.mean(axis=1)
    mean[channels : channels + windows] += cells.mean(axis=0)
    var[:channels] += np.einsum("ki,ij,kj->k", rows, cell_cov, rows)
    var[channels : channels + windows] += np.einsum("ki,ij,kj->k", cols, cell_cov, cols)
    return mean, np.sqrt(np.maximum(var, 0.0))
