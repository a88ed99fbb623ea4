"""GC_FREEZE: the lifespan freezes the startup heap and unfreezes it at shutdown."""

from __future__ import annotations

import gc

from api_testkit import running_app

from execlog_api.gc_tuning import freeze_gc, unfreeze_gc
from execlog_api.settings import Settings


def test_api_freeze_gc_and_back() -> None:
    freeze_gc()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        unfreeze_gc()
    assert gc.get_freeze_count() == 0


async def test_api_lifespan_freezes_gc_only_when_asked(api_settings: Settings) -> None:
    async with running_app(api_settings.model_copy(update={"gc_freeze": True})):
        frozen = gc.get_freeze_count()
    assert frozen > 0
    assert gc.get_freeze_count() == 0
    async with running_app(api_settings.model_copy(update={"gc_freeze": False})):
        assert gc.get_freeze_count() == 0
