"""The API's OpenAPI document, as committed in ``docs/openapi.json``.

    uv run python -m render_farm_manager.service.openapi          # rewrite docs/openapi.json
    uv run python -m render_farm_manager.service.openapi --check  # fail if it is stale

``tests/test_service_openapi.py`` runs the check, so the committed document never goes stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    from render_farm_manager.service.app import create_app

    return create_app().openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = openapi_text()
    if "--check" in argv:
        if not COMMITTED.exists() or COMMITTED.read_text(encoding="utf-8") != text:
            print(f"{COMMITTED} is stale: run python -m render_farm_manager.service.openapi")
            return 1
        return 0
    COMMITTED.parent.mkdir(parents=True, exist_ok=True)
    COMMITTED.write_text(text, encoding="utf-8")
    print(f"wrote {COMMITTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
