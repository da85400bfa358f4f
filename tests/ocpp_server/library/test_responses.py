"""The slim response queue: what the ocpp library does with its asyncio.Queue, and nothing kept idle."""

from __future__ import annotations

import asyncio

import pytest

from csms.ocpp.library.responses import ResponseQueue


async def test_answers_come_out_in_order_whether_put_before_or_after_the_get() -> None:
    queue = ResponseQueue()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("c")
    assert await waiting == "c"
    assert queue.empty()


async def test_a_timed_out_get_loses_nothing_that_arrives_after_it() -> None:
    queue = ResponseQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("late")
    assert await asyncio.wait_for(queue.get(), 1) == "late"


async def test_an_answer_arriving_as_its_get_is_cancelled_stays_for_the_next_get() -> None:
    queue = ResponseQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("answer")  # the getter is woken, but cancelled before it runs
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(queue.get(), 1) == "answer"


async def test_an_idle_queue_keeps_no_buffer() -> None:
    queue = ResponseQueue()
    queue.put_nowait("x")
    await queue.get()
    assert queue._items is None and queue._waiter is None
