import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _untraced(request):
    """Tests marked ``untraced`` run without coverage tracing, which would slow them several
    times over for lines that other tests cover (pytest-cov's own ``no_cover`` marker breaks
    ``--no-cov`` runs)."""
    if request.node.get_closest_marker("untraced") is None:
        yield
        return
    import coverage

    cov = coverage.Coverage.current()
    if cov is None:
        yield
        return
    cov.stop()
    try:
        yield
    finally:
        cov.start()
