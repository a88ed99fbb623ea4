"""bind_execution / current_binding: values, nesting, restore on error, asyncio tasks, and the
resolution rule the logging bridges share (binding_for)."""

from __future__ import annotations

import asyncio
import contextvars
import uuid

import pytest

from execlog_producer.context import (
    ExecutionBinding,
    as_execution_id,
    bind_execution,
    binding_for,
    current_binding,
)

OUTER_EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000c1")
INNER_EXECUTION = uuid.UUID("0190d9d2-0000-7000-8000-0000000000c2")


def test_producer_context_nothing_bound_outside_a_block() -> None:
    assert current_binding() is None
    assert binding_for() is None


def test_producer_context_bind_sets_and_restores_the_binding() -> None:
    with bind_execution(str(OUTER_EXECUTION), node_id="n1", component="runner") as entered:
        expected = ExecutionBinding(OUTER_EXECUTION, "n1", "runner")
        assert entered == expected
        assert current_binding() == expected
        assert isinstance(current_binding(), ExecutionBinding)
    assert current_binding() is None


def test_producer_context_nested_bind_overrides_then_restores() -> None:
    with bind_execution(OUTER_EXECUTION, node_id="n1", component="runner"):
        with bind_execution(INNER_EXECUTION, component="retry_service"):
            # a nested bind replaces the whole binding: no node inherited from the outer one
            assert current_binding() == ExecutionBinding(INNER_EXECUTION, None, "retry_service")
        assert current_binding() == ExecutionBinding(OUTER_EXECUTION, "n1", "runner")
    assert current_binding() is None


def test_producer_context_binding_restored_when_the_block_raises() -> None:
    with bind_execution(OUTER_EXECUTION):
        with pytest.raises(KeyError), bind_execution(INNER_EXECUTION):
            raise KeyError("boom")
        assert current_binding() == ExecutionBinding(OUTER_EXECUTION)
    assert current_binding() is None


def test_producer_context_binding_is_frozen() -> None:
    binding = ExecutionBinding(OUTER_EXECUTION)
    with pytest.raises(AttributeError):
        binding.node_id = "n2"  # type: ignore[misc]


def test_producer_context_rejects_an_id_that_is_not_a_uuid() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        bind_execution("not-a-uuid")
    with pytest.raises(ValueError, match="must be a UUID"):
        as_execution_id(12)
    assert current_binding() is None


def test_producer_context_scope_cannot_be_entered_twice_at_once() -> None:
    scope = bind_execution(OUTER_EXECUTION)
    with scope:
        with pytest.raises(RuntimeError, match="already active"), scope:
            pass
        assert current_binding() == ExecutionBinding(OUTER_EXECUTION)
    with scope:  # entered again once it exited
        assert current_binding() == ExecutionBinding(OUTER_EXECUTION)
    assert current_binding() is None


async def test_producer_context_async_with_and_across_awaits() -> None:
    async with bind_execution(OUTER_EXECUTION, node_id="n1") as entered:
        await asyncio.sleep(0)
        assert current_binding() == entered
    assert current_binding() is None


async def test_producer_context_tasks_created_in_the_block_see_the_binding() -> None:
    async def seen() -> ExecutionBinding | None:
        await asyncio.sleep(0)
        return current_binding()

    with bind_execution(OUTER_EXECUTION, node_id="n1"):
        task = asyncio.create_task(seen())
        gathered = asyncio.gather(seen(), seen())
    # the tasks copied the context when created: the block ending later changes nothing for them
    assert current_binding() is None
    expected = ExecutionBinding(OUTER_EXECUTION, "n1")
    assert await task == expected
    assert list(await gathered) == [expected, expected]
    assert await asyncio.create_task(seen()) is None


async def test_producer_context_concurrent_tasks_keep_their_own_binding() -> None:
    both_bound = asyncio.Barrier(2)

    async def run(execution_id: uuid.UUID, node_id: str) -> ExecutionBinding | None:
        with bind_execution(execution_id, node_id=node_id):
            await both_bound.wait()  # both blocks are active at the same time here
            return current_binding()

    with bind_execution(OUTER_EXECUTION):
        first, second = await asyncio.gather(run(OUTER_EXECUTION, "a"), run(INNER_EXECUTION, "b"))
        # a bind inside a task does not leak into the task that awaits it
        assert current_binding() == ExecutionBinding(OUTER_EXECUTION)
    assert first == ExecutionBinding(OUTER_EXECUTION, "a")
    assert second == ExecutionBinding(INNER_EXECUTION, "b")


def test_producer_context_copied_context_runs_with_the_binding() -> None:
    with bind_execution(OUTER_EXECUTION, component="brain"):
        copied = contextvars.copy_context()
    assert current_binding() is None
    assert copied.run(current_binding) == ExecutionBinding(OUTER_EXECUTION, None, "brain")


def test_producer_context_binding_for_own_fields_win() -> None:
    with bind_execution(OUTER_EXECUTION, node_id="n1", component="runner"):
        assert binding_for() == ExecutionBinding(OUTER_EXECUTION, "n1", "runner")
        assert binding_for(node_id="n2") == ExecutionBinding(OUTER_EXECUTION, "n2", "runner")
        assert binding_for(str(OUTER_EXECUTION), component="db") == ExecutionBinding(
            OUTER_EXECUTION, "n1", "db"
        )
        # another execution: the bound node and component are not its own
        assert binding_for(INNER_EXECUTION) == ExecutionBinding(INNER_EXECUTION)
    assert binding_for(INNER_EXECUTION, "n9") == ExecutionBinding(INNER_EXECUTION, "n9")
    with pytest.raises(ValueError, match="badly formed"):
        binding_for("nope")
