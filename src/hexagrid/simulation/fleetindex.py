"""Flat numpy views of a fleet, so per-event and end-of-run work index arrays instead of walking models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from hexagrid.domain import CATALOG, Fleet, JobKind, Site
from hexagrid.energy.power import DEFAULT_UTILISATION, busy_gpu_it_power_w

__all__ = ["KIND_CODES", "KIND_CODE_BY_ID", "FleetIndex", "date_to_posix_s"]

#: Stable small integers for job kinds (column ``kind`` of the per-job table and power lookups).
KIND_CODES: dict[JobKind, int] = {k: i for i, k in enumerate(JobKind)}
#: the same codes by the member's identity, for per-job paths: hashing an Enum member is a Python-level call
KIND_CODE_BY_ID: dict[int, int] = {id(k): i for k, i in KIND_CODES.items()}


def date_to_posix_s(d: date) -> float:
    """Midnight UTC of ``d`` as POSIX seconds."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class FleetIndex:
    """Sites and pools as arrays. Pool ``p`` belongs to site ``pool_site[p]``."""

    sites: tuple[Site, ...]
    site_ids: tuple[str, ...]
    pool_keys: tuple[tuple[str, str], ...]  # (site id, pool id)
    pool_site: npt.NDArray[np.int64]
    pool_accelerator: tuple[str, ...]
    pool_gpus_per_node: npt.NDArray[np.int64]
    pool_nodes: npt.NDArray[np.int64]
    pool_gpus: npt.NDArray[np.int64]
    pool_price_eur_per_gpu_h: npt.NDArray[np.float64]
    #: IT watts per busy GPU, by pool and job-kind code (GPU at the kind's default utilisation + node share)
    pool_it_w_per_gpu: npt.NDArray[np.float64]
    site_pue: npt.NDArray[np.float64]
    site_envelope_w: npt.NDArray[np.float64]
    site_heat_reuse: npt.NDArray[np.float64]
    site_energy_price_eur_per_mwh: npt.NDArray[np.float64]  # NaN where the GPU price includes power
    site_gpus: npt.NDArray[np.int64]
    site_online_from_s: npt.NDArray[np.float64]  # -inf when always
    site_online_until_s: npt.NDArray[np.float64]  # +inf when always

    @classmethod
    def build(cls, fleet: Fleet) -> FleetIndex:
        sites = tuple(fleet.sites)
        keys, psite, pacc, pgpn, pnodes, pprice = [], [], [], [], [], []
        pw = []
        for si, s in enumerate(sites):
            for p in s.pools:
                keys.append((s.id, p.id))
                psite.append(si)
                pacc.append(p.accelerator)
                pgpn.append(p.gpus_per_node)
                pnodes.append(p.nodes)
                pprice.append(s.price_for(p.accelerator))
                a = CATALOG[p.accelerator]
                pw.append(
                    [
                        float(busy_gpu_it_power_w(a.tdp_w, a.idle_w, float(p.gpus_per_node), DEFAULT_UTILISATION[k]))
                        for k in KIND_CODES
                    ]
                )
        gpn = np.asarray(pgpn, dtype=np.int64)
        nodes = np.asarray(pnodes, dtype=np.int64)
        return cls(
            sites=sites,
            site_ids=tuple(s.id for s in sites),
            pool_keys=tuple(keys),
            pool_site=np.asarray(psite, dtype=np.int64),
            pool_accelerator=tuple(pacc),
            pool_gpus_per_node=gpn,
            pool_nodes=nodes,
            pool_gpus=gpn * nodes,
            pool_price_eur_per_gpu_h=np.asarray(pprice, dtype=np.float64),
            pool_it_w_per_gpu=np.asarray(pw, dtype=np.float64).reshape(len(keys), len(KIND_CODES)),
            site_pue=np.asarray([s.pue for s in sites], dtype=np.float64),
            site_envelope_w=np.asarray([s.power_mw * 1e6 for s in sites], dtype=np.float64),
            site_heat_reuse=np.asarray([s.heat_reuse_fraction for s in sites], dtype=np.float64),
            site_energy_price_eur_per_mwh=np.asarray(
                [np.nan if s.energy_price_eur_per_mwh is None else s.energy_price_eur_per_mwh for s in sites],
                dtype=np.float64,
            ),
            site_gpus=np.asarray([s.gpus for s in sites], dtype=np.int64),
            site_online_from_s=np.asarray(
                [date_to_posix_s(s.online_from) if s.online_from else -np.inf for s in sites], dtype=np.float64
            ),
            site_online_until_s=np.asarray(
                [date_to_posix_s(s.online_until) if s.online_until else np.inf for s in sites], dtype=np.float64
            ),
        )

    def pool_index(self) -> dict[tuple[str, str], int]:
        return {k: i for i, k in enumerate(self.pool_keys)}
