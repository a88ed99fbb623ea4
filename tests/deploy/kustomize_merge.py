"""kubectl's strategic merge patch, as far as the overlays in deploy/k8s use it."""

from __future__ import annotations

import copy
from typing import Any


def strategic_merge(base: Any, patch: Any) -> Any:
    """Enough of kubectl's strategic merge for our patches: maps merge, named lists by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    ):
        by_name = {item["name"]: item for item in base}
        out = [strategic_merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        patched = {i["name"] for i in patch}
        return [i for i in base if i["name"] not in patched] + out
    return copy.deepcopy(patch)
