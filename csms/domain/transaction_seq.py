"""A transaction's event numbering (2.0.1 seqNo): the next expected, a repeat, a gap, a reset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeqStep:
    last: int | None  # the transaction's seqNo after this event
    missing: tuple[int, int] | None = None  # first and last seqNo never received, if a gap
    reset: bool = False  # the charger numbers anew (e.g. after a reboot)


def follow(last: int | None, seq_no: int | None) -> SeqStep:
    """The numbering after an event: seqNo counts a transaction's messages from 0 (E01), so a
    number past the next one shows messages missing (lost, or still queued on the charger); 0
    after others is a charger numbering anew; another number already seen is a resend."""
    if seq_no is None:
        return SeqStep(last)
    if last is None or seq_no == last + 1:
        return SeqStep(seq_no)
    if seq_no > last + 1:
        return SeqStep(seq_no, missing=(last + 1, seq_no - 1))
    if seq_no == 0 < last:
        return SeqStep(0, reset=True)
    return SeqStep(last)  # a resend of an event whose answer was lost
