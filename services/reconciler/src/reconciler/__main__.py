"""`reconciler`: run the service until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import signal

from . import logs
from .service import build_app
from .settings import Settings


async def _serve(settings: Settings) -> None:
    app = build_app(settings)
    await app.start()
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(app.run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await app.stop()


# A batch of 5,000 decoded records stays alive while it is folded: with Python's default threshold
# (700) the cyclic collector rescans it many times per batch. 50,000 cut the reconciler's CPU per
# device by about a quarter in bench/resync_bench.py (docs/performance-reconciler.md, issue 12).
GC_THRESHOLD_0 = 50_000


def main() -> None:
    gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])
    settings = Settings()
    logs.configure(settings.log_level)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
