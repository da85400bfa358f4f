"""Several nodes on one database: leases, the links each holds, and relaying commands between them."""
