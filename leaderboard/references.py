"""The record a submission is judged against: the best accepted record standing on its date.

Accepted means merged into the official main (or marked accepted at import or by an override). A
submission's date here is the day it is judged on: its pull request's creation date when golf knows
its pull request, else its own date; an accepted record stands from that day of its own. A
submission is never judged against itself or a copy of itself (same source key or same content).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from golfcore.vocabulary import Track

from .db import SubmissionRow
from .rules import Context, Reference
from .significance import POLICIES


@dataclass
class _Accepted:
    id: int
    key: str
    name: str
    date: str | None
    content_hash: str
    mean_val_bpb: float


class DatabaseReferences:
    """Accepted record-track submissions, loaded once (and again after `invalidate`)."""

    def __init__(self, sessions: sessionmaker[Session], policy: str = "readme"):
        self.sessions = sessions
        self.policy = POLICIES[policy]
        self._accepted: list[_Accepted] | None = None
        self._seeds: dict[int, tuple[list[float], list[float]]] = {}

    def invalidate(self) -> None:
        self._accepted = None
        self._seeds.clear()

    def accepted(self) -> list[_Accepted]:
        if self._accepted is None:
            with self.sessions() as session:
                rows = session.execute(select(
                    SubmissionRow.id, SubmissionRow.key, SubmissionRow.name,
                    func.coalesce(SubmissionRow.judged_on, SubmissionRow.date),
                    SubmissionRow.content_hash, SubmissionRow.mean_val_bpb,
                ).where(SubmissionRow.accepted.is_(True), SubmissionRow.track == Track.record.value,
                        SubmissionRow.mean_val_bpb.is_not(None)).order_by(SubmissionRow.id)).all()
            seen: set[str] = set()  # one per content: the first stored (a copy of it adds nothing)
            unique = [r for r in rows if not (r.content_hash and (r.content_hash in seen or seen.add(r.content_hash)))]
            self._accepted = sorted((_Accepted(*r) for r in unique), key=lambda a: (a.mean_val_bpb, a.id))
        return self._accepted

    def _reference(self, row: _Accepted) -> Reference:
        if row.id not in self._seeds:
            with self.sessions() as session:
                analysis = session.scalar(select(SubmissionRow.analysis_json).where(SubmissionRow.id == row.id))
            self._seeds[row.id] = seed_scores(analysis)
        losses, bpbs = self._seeds[row.id]
        return Reference(row.name, losses, bpbs, key=row.key, content_hash=row.content_hash, date=row.date)

    def standing_on(self, date: str | None, digest: str | None, key: str | None) -> Reference | None:
        """The best accepted record dated before `date`'s day (any when unknown), not this one nor a copy.
        Records of the same day are left out: which came first is not known."""
        for row in self.accepted():
            if row.key == key or (digest and row.content_hash == digest):
                continue
            if date and row.date and row.date[:10] >= date[:10]:
                continue
            return self._reference(row)
        return None

    def context(self, date: str | None, digest: str | None, key: str | None) -> Context:
        reference = self.standing_on(date, digest, key)
        frontier = None
        if reference is not None:
            frontier = sum(reference.val_bpbs) / len(reference.val_bpbs) if reference.val_bpbs else None
        return Context(reference=reference, policy=self.policy, frontier_bpb=frontier)


def seed_scores(analysis_json: str) -> tuple[list[float], list[float]]:
    """(val_losses, val_bpbs) of the seeds a stored analysis counts."""
    seeds = json.loads(analysis_json)["seeds"]
    pairs = [(s["val_loss"], s["val_bpb"]) for s in seeds if s["val_loss"] is not None and s["val_bpb"] is not None]
    return [loss for loss, _ in pairs], [bpb for _, bpb in pairs]


def reference_by_name(sessions: sessionmaker[Session], spec: str, exclude_key: str | None = None,
                      exclude_digest: str | None = None) -> Reference:
    """`best` (the best accepted record), or a submission by id, key or exact name."""
    with sessions() as session:
        query = select(SubmissionRow)
        if spec == "best":
            query = query.where(SubmissionRow.track == Track.record.value, SubmissionRow.mean_val_bpb.is_not(None),
                                or_(SubmissionRow.accepted.is_(True), SubmissionRow.verdict == "record"))
            if exclude_key:
                query = query.where(SubmissionRow.key != exclude_key)
            if exclude_digest:
                query = query.where(SubmissionRow.content_hash != exclude_digest)
            query = query.order_by(SubmissionRow.accepted.desc(), SubmissionRow.mean_val_bpb)
        else:
            conditions = [SubmissionRow.key == spec, SubmissionRow.name == spec]
            if spec.isdigit() and len(spec) < 19:
                conditions.append(SubmissionRow.id == int(spec))
            query = query.where(or_(*conditions))
        row = session.scalars(query.limit(1)).first()
        if row is None:
            raise LookupError(f"no submission matches --against {spec!r} in the database")
        losses, bpbs = seed_scores(row.analysis_json)
        return Reference(row.name, losses, bpbs, key=row.key, content_hash=row.content_hash, date=row.date)
