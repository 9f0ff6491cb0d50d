"""`monitor run`: APScheduler wiring around the poller, and a clean stop.

Why one periodic pass rather than one APScheduler job per feed: when a feed is due lives in
the database (`next_due_at`, with jitter, backoff and the server's Retry-After already
applied by `monitor.poll`), so a restarted process, a second poller on the same PostgreSQL and
`monitor poll` from cron all agree on it. Each pass leases the due feeds, so a feed is polled by
one pass of one process at a time; the pass job itself runs with `max_instances=1` and
`coalesce=True`, so a slow pass never piles up behind itself.

On SIGINT or SIGTERM no new pass starts; the pass in flight finishes (each feed's transaction
commits or never starts), then the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.poll import Poller, PollReport

log = logging.getLogger("monitor.scheduler")


async def serve(
    poller: Poller,
    *,
    tick: float = 10.0,
    stop: asyncio.Event | None = None,
    on_pass: Callable[[PollReport], Awaitable[None] | None] | None = None,
    handle_signals: bool = True,
) -> int:
    """Poll due feeds every `tick` seconds until `stop` is set or a signal arrives; returns
    the number of passes run."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(stop, sig))
    passes = 0
    in_flight: set[asyncio.Task[Any]] = set()

    async def one_pass() -> None:
        nonlocal passes
        try:
            report = await poller.poll_due()
            passes += 1
            if on_pass is not None:
                result = on_pass(report)
                if result is not None:
                    await result
        except Exception:  # a broken pass is logged; the next one tries again
            log.exception("polling pass failed")

    async def poll_pass() -> None:
        if stop.is_set():
            return
        # The pass runs as a task of its own: APScheduler's shutdown cancels the job's
        # coroutine, and the pass in flight must finish (leases released, feeds recorded).
        task = asyncio.ensure_future(one_pass())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        await asyncio.shield(task)

    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    scheduler.add_job(poll_pass, "interval", seconds=tick, id="poll",
                      next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    scheduler.start()
    log.info("started", extra={"event": {"worker": poller.worker_id, "tick": tick,
                                         "feeds": len(poller.feeds)}})
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if in_flight:
            log.info("stopping after the pass in flight")
            await asyncio.gather(*in_flight, return_exceptions=True)
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("stopped", extra={"event": {"passes": passes}})
    return passes


def _stopper(stop: asyncio.Event, sig: signal.Signals) -> Callable[[], None]:
    def handler() -> None:
        log.info("received %s", sig.name)
        stop.set()
    return handler
