"""The workers' broker transport: kombu's Redis transport, its acknowledgements cheaper.

With `acks_late`, kombu keeps every message a worker has taken but not acknowledged in
two Redis keys (a hash of the messages and a sorted set of when each was taken), so a
worker that dies leaves them to be delivered again. Stock kombu writes each message
there, and removes it at its ack, with a MULTI/EXEC pipeline from a client made for the
purpose: 60 to 90 µs of a worker's CPU a message each way. Here each is one script call,
as atomic as the transaction, on the same keys in the same format, so kombu's own
restore (at a worker's shutdown, or after the visibility timeout) and any stock kombu
process read them as before. Everything else is kombu's.

A broker with a `global_keyprefix` keeps kombu's own code (its client prefixes the keys
of the commands it knows, which a script's keys are not among).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps
from redis.exceptions import NoScriptError

# The same two writes as kombu's `QoS.append` (ZADD then HSET) and `QoS.ack` (ZREM, HDEL).
_TAKEN = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
"""
_ACKED = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
"""


class QoS(kombu_redis.QoS):
    """kombu's ack emulation, each change to the unacked keys one EVALSHA."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._held: Any = None
        # Celery's threads pool acknowledges a message on the thread that ran its task:
        # the kept connection takes one script call at a time, whatever redis-py's
        # version does about a single-connection client shared by threads.
        self._lock = threading.Lock()

    def append(self, message: Any, delivery_tag: str) -> None:
        if self.channel.global_keyprefix:
            super().append(message, delivery_tag)  # type: ignore[no-untyped-call]
            return
        delivery = message.delivery_info
        raw = dumps([  # type: ignore[no-untyped-call]
            message._raw, delivery["exchange"], delivery["routing_key"]])
        self._script(_TAKEN, delivery_tag, time.time(), raw)
        virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def ack(self, delivery_tag: str) -> None:
        if self.channel.global_keyprefix:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
            return
        self._script(_ACKED, delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue or self.channel.global_keyprefix:
            super().reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
            return
        self._script(_ACKED, delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    def _script(self, text: str, *args: Any) -> None:
        keys = (self.unacked_index_key, self.unacked_key)
        with self._lock:
            client = self._client()
            script = _registered(client, text)
            try:
                client.execute_command("EVALSHA", script.sha, 2, *keys, *args)
            except NoScriptError:  # a restart or SCRIPT FLUSH: the text once, then the SHA
                script(keys=keys, args=args, client=client)

    def _client(self) -> Any:
        # One connection of the channel's own pool kept for these calls (the event loop's
        # and the pool threads' acks): no check-out per call, whose readiness check is a
        # poll of the socket and a release of the interpreter lock. Made again with the pool.
        pool = self.channel.pool
        held = self._held
        if held is None or held.connection_pool is not pool:
            held = self._held = self.channel.Client(connection_pool=pool,
                                                    single_connection_client=True)
        return held


_scripts: dict[str, Any] = {}


def _registered(client: Any, text: str) -> Any:
    """redis-py's Script for `text` (its SHA computed once a process)."""
    script = _scripts.get(text)
    if script is None:
        script = _scripts[text] = client.register_script(text)
    return script


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
