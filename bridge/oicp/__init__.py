"""OICP 2.3, CPO side: what we push to Hubject and what Hubject asks of us."""
