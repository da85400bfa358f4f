"""The `csms` command: its subcommands by concept."""
