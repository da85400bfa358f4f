"""`--profile`: py-spy on the server while it is measured, and where its time went, by area and function."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path

# Where a sample's time goes, by the innermost frame that names one of these (first match wins,
# checked from the innermost frame outwards): what the notes in bench/README.md quote.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("json", ("(json/", "orjson", "library/frames.py")),
    ("schema validation", ("fastjsonschema", "(jsonschema/", "library/validation.py",
                           "validate (<string>)", "validate_payload")),
    # the system calls: what a frame's send and receive cost the kernel, seen from Python
    ("socket calls", ("_SelectorSocketTransport.write", "_read_ready", "EpollSelector.select",
                      "sock_recv", "sock_send")),
    ("websockets", ("(websockets/",)),
    ("asyncpg", ("(asyncpg/",)),
    ("ocpp library", ("(ocpp/",)),
    ("logging", ("(structlog/", "(logging/")),
    ("our code", ("(csms/", "(bridge/")),
    ("event loop", ("(asyncio/", "uvloop", "(selectors.py")),
)
OTHER = "other"


def py_spy() -> str | None:
    """py-spy beside this interpreter (a venv's bin) or on the PATH; None when not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, path: Path) -> str:
    """Sample the process for `seconds` into `path` (py-spy's raw, collapsed-stack format) and
    return what was written. Non-blocking: the server is not paused to be sampled."""
    program = py_spy()
    if program is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    process = await asyncio.create_subprocess_exec(
        program, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", "200", "--format", "raw", "--nolineno", "--nonblocking", "--output", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, error = await process.communicate()
    written = await asyncio.to_thread(_read, path)
    if process.returncode != 0 or written is None:
        raise RuntimeError(f"py-spy failed: {error.decode(errors='replace').strip()[-300:]}")
    return written


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _stacks(collapsed: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in collapsed.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def area_of(frames: list[str]) -> str:
    """The area a sample counts for: the innermost frame that belongs to one."""
    for frame in reversed(frames):
        for area, marks in AREAS:
            if any(mark in frame for mark in marks):
                return area
    return OTHER


def summarize(collapsed: str, top: int = 12) -> dict[str, object]:
    """Shares of the samples (in %): by area (each sample counted once), the functions where the
    samples were taken (self time), and the functions on the stack (inclusive time)."""
    stacks = _stacks(collapsed)
    total = sum(count for _, count in stacks)
    if not total:
        return {"samples": 0}
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        areas[area_of(frames)] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: Counter[str], n: int) -> dict[str, float]:
        return {name: round(100 * count / total, 1) for name, count in counter.most_common(n)}

    return {"samples": total, "areas_pct": shares(areas, len(AREAS) + 1),
            "self_pct": shares(own, top),
            # the outermost frames (the loop's run_forever) are on every stack: left out
            "inclusive_pct": {name: share for name, share in shares(inclusive, top * 3).items()
                              if share < 99.5}}
