"""Interpreter tuning at startup: applied by the app's lifespan, undone at shutdown."""

from __future__ import annotations

import gc
import sys

from api_testkit import running_app

from execlog_api.runtime import tune_interpreter, undo_tuning
from execlog_api.settings import Settings


def test_api_tune_interpreter_sets_and_undoes() -> None:
    before = sys.getswitchinterval()
    tuning = tune_interpreter(gc_freeze=True, switch_interval=0.0007)
    try:
        assert abs(sys.getswitchinterval() - 0.0007) < 1e-6
        assert gc.get_freeze_count() > 0
    finally:
        undo_tuning(tuning)
    assert sys.getswitchinterval() == before
    assert gc.get_freeze_count() == 0


def test_api_tune_interpreter_none_leaves_the_interval() -> None:
    before = sys.getswitchinterval()
    undo_tuning(tune_interpreter(gc_freeze=False, switch_interval=None))
    assert sys.getswitchinterval() == before


async def test_api_lifespan_applies_gil_switch_interval(api_settings: Settings) -> None:
    before = sys.getswitchinterval()
    settings = api_settings.model_copy(update={"gil_switch_interval": 0.0003})
    async with running_app(settings):
        during = sys.getswitchinterval()
    assert abs(during - 0.0003) < 1e-6
    assert sys.getswitchinterval() == before
