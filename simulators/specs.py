"""Where the partners' published specifications (Hubject's OICP, OCPI's) are found on this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _cloned_from(checkout: Path) -> Path | None:
    """The local repository this checkout was cloned from, if any (a clone in a temp folder)."""
    try:
        url = subprocess.run(["git", "-C", str(checkout), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return None
    if not url or ("://" in url and not url.startswith("file://")):
        return None
    origin = Path(url.removeprefix("file://"))
    return (checkout / origin).resolve() if not origin.is_absolute() else origin


def specs_dir() -> Path:
    """$SPECS_DIR, else the nearest `shared/specs` beside the checkout or one of its parents,
    or beside the local repository the checkout was cloned from."""
    if os.environ.get("SPECS_DIR"):
        return Path(os.environ["SPECS_DIR"])
    checkout = Path(__file__).resolve().parents[1]
    origin = _cloned_from(checkout)
    for start in (checkout, origin):
        for folder in start.parents if start else ():
            if (folder / "shared" / "specs").is_dir():
                return folder / "shared" / "specs"
    raise FileNotFoundError(
        f"no shared/specs beside {checkout} or its parents: set SPECS_DIR to the folder that "
        "holds oicp-2.3/ (Hubject's OpenAPI files) and ocpi-2.2.1/")
