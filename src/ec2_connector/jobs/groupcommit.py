"""Writes of many threads to one SQLite connection, committed together (group commit).

A job pool's threads each write three times per job (claimed, and finished, after the
submitter's add), and each write was its own transaction under one lock: the pool queued
on it. Here a thread that takes the lock commits every write queued meanwhile in one
transaction, so a busy pool pays one commit for many writes, and a lone write is still
one autocommit statement, as before. A thread returns from `write` only once its own
write is committed: what a store promises of a returned write (on disk in the WAL, kept
by a crash of the process) is unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any


class _Write:
    """One thread's statement, waiting for the commit that carries it."""

    __slots__ = ("args", "done", "error", "fetch", "rows", "sql", "wake")

    def __init__(self, sql: str, args: list[Any], fetch: bool) -> None:
        self.sql, self.args, self.fetch = sql, args, fetch
        self.done = False
        self.wake: threading.Lock | None = None  # held until its thread may go on
        self.rows: list[Any] = []
        self.error: BaseException | None = None

    def run(self, db: sqlite3.Connection) -> None:
        cursor = db.execute(self.sql, self.args)
        # The rows it returned (RETURNING), or one row per row it changed.
        self.rows = cursor.fetchall() if self.fetch else [()] * max(cursor.rowcount, 0)


class GroupCommit:
    """Writes from many threads, committed together: while one thread commits, the
    others queue their writes; when it is done, it wakes each thread whose write it
    carried, and hands the queue to the first thread waiting in it, which commits all
    of it in one transaction.

    Each statement is a compare-and-set run in turn, so the batch gives what the same
    statements committed one by one would; a statement SQLite refuses (a duplicate id)
    is undone alone and its error goes to its own thread, while a failed transaction
    (a busy store past its timeout, a full disk) fails every write in it, none of which
    then happened. A thread is woken once, by its own lock: no thread wakes to find
    its write still waiting (each wake-up costs a turn of the interpreter lock).
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock  # `lock`: held while the connection is in use
        self._queue: list[_Write] = []
        self._queue_lock = threading.Lock()  # the queue, and whether a thread commits
        self._committing = False
        self.writes = self.commits = 0  # how well writes are grouped, for the curious

    def write(self, sql: str, args: list[Any], *, fetch: bool) -> list[Any]:
        """Run `sql` in the next commit: the rows it returned if `fetch` (a RETURNING
        statement), else one empty row per row it changed."""
        mine = _Write(sql, args, fetch)
        with self._queue_lock:
            if self._committing:
                mine.wake = threading.Lock()
                mine.wake.acquire()
                self._queue.append(mine)
            else:
                self._committing = True
        if mine.wake is not None:
            mine.wake.acquire()  # carried by a commit (done), or handed the queue
        if not mine.done:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return mine.rows

    def _lead(self, mine: _Write) -> None:
        """Commit `mine` and the queue, wake their threads, hand the rest on."""
        with self._queue_lock:
            batch = [mine, *(w for w in self._queue if w is not mine)]
            self._queue = []
            self.writes, self.commits = self.writes + len(batch), self.commits + 1
        try:
            with self._lock:
                self._commit(batch)
        finally:
            for write in batch:
                if write.wake is not None and write is not mine:
                    write.wake.release()
            with self._queue_lock:
                if self._queue:  # came while this commit ran: the first one leads next
                    self._queue[0].wake.release()  # type: ignore[union-attr]
                else:
                    self._committing = False

    def _commit(self, batch: list[_Write]) -> None:
        db, committed = self._db, False
        try:
            if len(batch) == 1:  # alone: autocommit, as without grouping
                batch[0].run(db)
                committed = True
            else:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for write in batch:
                        try:
                            write.run(db)
                        except sqlite3.IntegrityError as exc:  # this statement only
                            write.error = exc
                    db.execute("COMMIT")
                    committed = True
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
        except Exception as exc:
            for write in batch:
                write.error, write.rows = exc, []
        finally:
            for write in batch:
                if not write.done and write.error is None and not committed:
                    # The leader was interrupted (Ctrl-C) before its commit: rolled back.
                    write.error = sqlite3.OperationalError("the commit was interrupted")
                write.done = True
