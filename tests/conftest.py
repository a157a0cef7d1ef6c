import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_addoption(parser):
    parser.addoption(
        "--e2e", action="store_true", help="also run the end-to-end tests (CI runs them always)"
    )


def pytest_collection_modifyitems(config, items):
    import os

    if os.environ.get("CI") or config.getoption("--e2e"):
        return
    skip = pytest.mark.skip(reason="end-to-end run: runs in CI (CI=1) or with --e2e")
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _untraced(request):
    """Tests marked ``untraced`` run without coverage tracing, which would slow them several
    times over for lines that other tests cover (pytest-cov's own ``no_cover`` marker breaks
    ``--no-cov`` runs)."""
    if request.node.get_closest_marker("untraced") is None:
        yield
        return
    from tracing import untraced

    with untraced():
        yield


PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _postgres_reachable() -> str | None:
    """None when a PostgreSQL server answers at PG_SERVER, else why not."""
    try:
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3):
            return None
    except Exception as error:  # any failure to connect means: no server for these tests
        return f"{type(error).__name__}: {error}"


@pytest.fixture
def pg_url():
    """A new, empty PostgreSQL database for one test (dropped afterwards). Skipped when no
    server is reachable locally; CI (``CI`` set) requires one."""
    import os
    import uuid

    problem = _postgres_reachable()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and not reachable at {PG_SERVER}: {problem}")
        pytest.skip(f"no PostgreSQL server reachable at {PG_SERVER} ({problem})")
    import psycopg

    name = f"rfm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
