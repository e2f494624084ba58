"""The golf launcher: the command line, job plans and backends."""
