"""Where the partners' published specifications (Hubject's OICP, OCPI's) are found on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def specs_dir() -> Path:
    """$SPECS_DIR, else the nearest `shared/specs` beside the checkout or one of its parents."""
    if os.environ.get("SPECS_DIR"):
        return Path(os.environ["SPECS_DIR"])
    checkout = Path(__file__).resolve().parents[1]
    for folder in checkout.parents:
        if (folder / "shared" / "specs").is_dir():
            return folder / "shared" / "specs"
    raise FileNotFoundError(
        f"no shared/specs beside {checkout} or its parents: set SPECS_DIR to the folder that "
        "holds oicp-2.3/ (Hubject's OpenAPI files)")
