"""PostgreSQL: the pool and embedded server, migrations, the repository layer, LISTEN."""
