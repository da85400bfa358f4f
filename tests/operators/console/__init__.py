"""The web console in real Chromium: pages, the live event stream, energy views, the overview."""
