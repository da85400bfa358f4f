"""Partner stand-ins: HTTP servers that check what we send against the partners' specifications."""
