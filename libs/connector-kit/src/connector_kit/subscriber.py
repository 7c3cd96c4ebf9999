"""The sync-request subscriber on FastStream, and the Kafka side of publishing snapshots.

- Subscribes `mdm.sync-requests.v1` (group `<name>-connector`) with a typed handler
  `handle(msg: SyncRequested)`; FastStream decodes and validates the JSON into the contract.
- Acknowledgement is manual (`AckPolicy.MANUAL`, auto-commit off) and comes AFTER the run: a
  finished run — completed, failed, or refused for bad credentials — commits its request. Never
  ack-first: a connector killed mid-pull leaves the request uncommitted and the next instance
  starts the run again under a new attempt (R-M13).
- A broker error during a run (nothing can be published) nacks the request: the consumer seeks
  back and the request is handled again after a short pause.
- A graceful stop (SIGTERM/SIGINT) cancels the run in flight: no `SyncRunFailed` is published, the
  request is neither acked nor nacked and stays uncommitted, so the next instance (or this one,
  restarted) re-runs it with a fresh attempt id. The reconciler counts each device once across
  attempts (R-M13). Publishing a "failed: interrupted" would end the run for good instead, and an
  administrator would have to ask again.
- Requests that cannot be decoded into `SyncRequested` go to `mdm.sync-requests.v1.dlq` with the
  error in `x-error` (and origin headers) and are acked — never dropped, never retried forever.
  So does a request on which the connector itself crashes (a bug outside the run; the run's own
  errors end it as `SyncRunFailed`): otherwise the next commit would pass over it silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from ledger_contracts import Event, SyncRequested, codec, topics

from .connector import Connector
from .logs import configure_logging
from .run import BROKER_ERRORS
from .settings import ConnectorSettings

MAX_UNACKED = 5000  # bounds memory on a 100k-device pull; the producer batches well below it
BROKER_ERROR_PAUSE_S = 1.0  # before a nacked request comes back: no hot loop while the broker is away

log = structlog.get_logger(__name__)


class BrokerPublisher:
    """Publishes snapshot events keyed by tenant; `flush` waits until each one is acknowledged."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic
        self._unacked: list[asyncio.Future[Any]] = []

    def _producer(self) -> AIOKafkaProducer | None:
        """The broker's connected aiokafka producer; None with FastStream's in-memory test broker."""
        inner = getattr(getattr(self._broker.config, "producer", None), "_producer", None)
        producer = getattr(inner, "producer", None)
        return producer if isinstance(producer, AIOKafkaProducer) else None

    async def publish(self, event: Event) -> None:
        key, value = codec.encode(event)
        if (producer := self._producer()) is not None:
            # Straight to aiokafka (issue 12: FastStream's publish path, its command object,
            # middleware chain and codec, cost about half of the connector's time per device),
            # with the headers FastStream would have set.
            headers = [("content-type", b""), ("correlation_id", str(uuid.uuid4()).encode())]
            sent: Any = await producer.send(self._topic, value, key=key, headers=headers)
        else:
            sent = await self._broker.publish(value, self._topic, key=key, no_confirm=True)
        if isinstance(sent, asyncio.Future):  # the in-memory test broker confirms at once
            self._unacked.append(sent)
        if len(self._unacked) >= MAX_UNACKED:
            await self.flush()

    async def flush(self) -> None:
        unacked, self._unacked = self._unacked, []
        if unacked:
            await asyncio.gather(*unacked)


async def dead_letter(broker: KafkaBroker, msg: StreamMessage[Any], error: str, consumer_name: str) -> None:
    """Publish `msg` unchanged to its topic's DLQ with the error and its origin, then ack it."""
    record = msg.raw_message
    topic, partition, offset = record.topic, record.partition, record.offset
    headers = {
        k: v.decode() for k, v in codec.dead_letter_headers(error, topic, partition, offset, consumer_name)
    }
    await broker.publish(msg.body, topics.dlq(topic), key=record.key, headers=headers)
    log.error("connector.dead_lettered", topic=topic, partition=partition, offset=offset, error=error)
    await msg.ack()


def dead_letter_middleware(
    broker: KafkaBroker, watched: str, consumer_name: str
) -> Callable[..., BaseMiddleware]:
    """Undecodable records of `watched` go to `<watched>.dlq` with the error, then are acked."""

    class DeadLetter(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            if msg.raw_message.topic != watched:
                return await call_next(msg)
            try:
                codec.decode(codec.sync_request_adapter, msg.body)
            except codec.PoisonMessage as exc:
                await dead_letter(broker, msg, str(exc), consumer_name)
                return None
            return await call_next(msg)

    return DeadLetter


class SyncRequestSubscriber:
    """A connector on the broker: `run()` until `stop()` (or SIGTERM/SIGINT via `serve`)."""

    def __init__(
        self, connector: Connector[Any, Any], settings: ConnectorSettings, *, client_name: str
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.client_name = client_name
        self.requests_topic = topics.named(topics.SYNC_REQUESTS, settings.topic_prefix)
        self.snapshots_topic = topics.named(topics.SNAPSHOTS, settings.topic_prefix)
        # No idempotence: the embedded broker (Tansu) rejects InitProducerId. Ordering still holds:
        # one key (tenant) -> one partition, and acks="all" keeps what is acknowledged durable.
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=client_name,
            acks="all",
            enable_idempotence=False,
            linger_ms=10,
            max_batch_size=1 << 20,
            request_timeout_ms=30_000,
            graceful_timeout=30.0,
        )
        session = settings.kafka_session_timeout_ms
        self.subscriber = self.broker.subscriber(
            self.requests_topic,
            group_id=settings.consumer_group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=session,
            heartbeat_interval_ms=max(100, session // 3),
        )
        self.broker.add_middleware(dead_letter_middleware(self.broker, self.requests_topic, client_name))
        self.handler = self.subscriber(self.handle)
        if connector.publisher is None:
            connector.publisher = BrokerPublisher(self.broker, self.snapshots_topic)
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._current: asyncio.Task[Any] | None = None

    async def handle(self, msg: SyncRequested, message: KafkaMessage) -> None:
        """Run the request, then ack it; a broker error nacks it; a stop leaves it uncommitted."""
        if self._stopping.is_set():
            return  # fetched while stopping: not acked, so it comes back to the next instance
        self._current = asyncio.ensure_future(self.connector.handle(msg))
        try:
            await self._current
        except BROKER_ERRORS as exc:
            log.error(f"{self.connector.name}.broker_error", error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(BROKER_ERROR_PAUSE_S)
            await message.nack()
            return
        except asyncio.CancelledError:
            if self._stopping.is_set():
                log.info(f"{self.connector.name}.run_interrupted", sync_run_id=str(msg.sync_run_id))
                return  # neither acked nor nacked: uncommitted, re-run under a new attempt
            raise
        except Exception as exc:  # a bug outside the run (a run's own errors end it as failed)
            log.exception(f"{self.connector.name}.handler_crashed", sync_run_id=str(msg.sync_run_id))
            error = f"the connector crashed on this request: {type(exc).__name__}: {exc}"[:2000]
            await dead_letter(self.broker, message, error, self.client_name)  # never silently skipped
            return
        finally:
            self._current = None
        await message.ack()

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[Connector[Any, Any]]:
        """The producer without the consumer: for runs started by hand (the demo, tests, benches)."""
        await self.broker.connect()
        try:
            yield self.connector
        finally:
            await self.broker.stop()

    async def start(self) -> None:
        await self.broker.start()
        self.ready.set()
        log.info(
            f"{self.connector.name}.consuming", topic=self.requests_topic, group=self.settings.consumer_group
        )

    async def run(self) -> None:
        """Consume sync requests until `stop()`."""
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.broker.stop()

    async def stop(self) -> None:
        self._stopping.set()
        if self._current is not None and not self._current.done():
            self._current.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({self._current})

    async def serve(self) -> None:
        """`run()` with SIGTERM/SIGINT wired to `stop()`: the process entry point."""
        loop = asyncio.get_running_loop()
        stopping: set[asyncio.Task[None]] = set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stopping.add(loop.create_task(self.stop())))
        await self.run()


def serve_main(
    settings_factory: Callable[[], ConnectorSettings],
    build: Callable[[Any], SyncRequestSubscriber],
) -> None:
    """A connector's process: settings from the environment, JSON logs, subscribe until SIGTERM."""
    settings = settings_factory()
    configure_logging(settings.log_level)
    asyncio.run(build(settings).serve())
