"""`reconciler`: run the service until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
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


def main() -> None:
    settings = Settings()
    logs.configure(settings.log_level)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
