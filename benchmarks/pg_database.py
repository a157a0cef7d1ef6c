"""A fresh PostgreSQL database for a benchmark (the server at 127.0.0.1:5432, trust auth)."""

from __future__ import annotations

PG = "postgresql://postgres@127.0.0.1:5432"


def postgres_database(name: str) -> str | None:
    """The URL of an empty database ``name`` (dropped first if it exists), or None (said why)
    when no server answers."""
    try:
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=3) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"{PG}/{name}"
    except Exception as error:  # any failure to connect: no PostgreSQL figures
        print(f"  PostgreSQL skipped: {error}")
        return None
