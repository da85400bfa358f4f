"""What operators use: the admin API and its description, the web console, the CLI."""
