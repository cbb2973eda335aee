"""`Call`: the entry point scripts use, as Flint's `@call.connector(name)...sync`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .actions import catalog
from .config import Connectors
from .execution import execute, prepare
from .request import Request, as_request
from .response import Response
from .runtime import Runtime, shared
from .settings import Settings
from .spec.params import text_of
from .transport.context import ItemSink, Progress
from .transport.deadline import Deadline

if TYPE_CHECKING:
    from .jobs.manager import Job, JobManager, RefusedJob


class Call:
    """Named connectors, their actions, and the jobs run on them.

    `config` is a path to a JSON file or a dict of the same shape; without it,
    $EC2_CONNECTOR_CONFIG is read when set, and the connector `aws-ec2` always exists.
    Calls run on `runtime` (threads, clients), by default the one this process shares;
    the settings not given here come from the runtime's if given, else from the
    environment as it is when this `Call` is made.
    `broker` (a redis:// URL, default $EC2_CONNECTOR_BROKER) sends jobs to Celery workers
    and keeps them in that Redis; without it they run here and are kept in SQLite.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        workers: int | None = None,
        runtime: Runtime | None = None,
        broker: str | None = None,
    ) -> None:
        self.runtime = runtime if runtime is not None else shared()
        self.settings = settings = runtime.settings if runtime else Settings.from_env()
        self.connectors = Connectors(config if config is not None else settings.config)
        self._home = home if home is not None else settings.home
        self._workers = workers or settings.workers
        self._broker = broker or settings.broker
        self._jobs: JobManager | None = None

    def connector(self, name: str | Sequence[str]) -> RequestBuilder:
        """A request to the connector `name`; a list of names runs a read-only request
        on each of them at once (the `connectors` parameter)."""
        if isinstance(name, list | tuple) and name:
            builder = RequestBuilder(self, name[0])
            return builder.set("connectors", list(name))
        # Anything else that is not a name (None, 7, []) is refused when the call runs,
        # as every bad request is: exitcode 2, nothing sent.
        return RequestBuilder(self, name)

    def actions(self) -> list[dict[str, Any]]:
        """The catalog: every action with its parameters and docs."""
        return catalog.describe()

    def execute(
        self, name: str, params: Mapping[str, Any], *, timeout_ms: int | None = None,
        progress: Progress | None = None,
        on_item: ItemSink | None = None,
    ) -> Response:
        """Run a flat request (`{"action": ..., params...}`) synchronously."""
        params = dict(params)
        action = params.pop("action", None)
        request = Request(name, None if action is None else text_of(action), params, timeout_ms)
        return execute(
            request, self.connectors, runtime=self.runtime, progress=progress, on_item=on_item
        )

    def check(self, name: str, params: Mapping[str, Any], *, job: bool = False) -> None:
        """Validate a flat request without running it: InvalidRequest (exitcode 2) if bad;
        `job`: also what a job needs (a secret result must have somewhere to go)."""
        timeout_ms = self.runtime.settings.timeout_ms
        prepared = prepare(as_request(name, params), self.connectors, Deadline(timeout_ms))
        if job:
            prepared.action.check_async(prepared.params)

    @property
    def jobs(self) -> JobManager:
        if self._jobs is None:
            from .jobs.manager import JobManager

            self._jobs = JobManager(
                self.connectors, home=self._home, workers=self._workers, runtime=self.runtime,
                broker=self._broker, settings=self.settings,
            )
        return self._jobs

    def job(self, job_id: str) -> Job:
        """A job submitted by `async_()`, from this process or another."""
        return self.jobs.get(job_id)

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()

    def __enter__(self) -> Call:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RequestBuilder:
    """A request being built with `.set()`; reusable: `.set()` again before `.sync()`."""

    def __init__(self, call: Call, connector: Any) -> None:
        self._call = call
        self._connector = connector
        self._params: dict[str, Any] = {}
        self._timeout_ms: int | None = None
        self._progress: Progress | None = None
        self._on_item: ItemSink | None = None

    def set(self, key: str, value: Any) -> RequestBuilder:
        self._params[key] = value
        return self

    def timeout(self, milliseconds: int) -> RequestBuilder:
        self._timeout_ms = milliseconds
        return self

    def on_progress(self, callback: Progress) -> RequestBuilder:
        """Called with progress events (wait polls, pages) while the call runs."""
        self._progress = callback
        return self

    def on_item(self, callback: ItemSink) -> RequestBuilder:
        """Stream a listing: each result item goes to `callback` as its page arrives, and
        the response's list stays empty (`meta["streamed-items"]` counts them)."""
        self._on_item = callback
        return self

    def request(self) -> Request:
        params = dict(self._params)
        action = params.pop("action", None)
        return Request(
            self._connector, None if action is None else text_of(action), params, self._timeout_ms
        )

    def sync(self) -> Response:
        """Run the call now; every failure comes back as an exitcode and a message."""
        call = self._call
        return execute(
            self.request(), call.connectors, runtime=call.runtime, progress=self._progress,
            on_item=self._on_item,
        )

    def async_(self) -> Job | RefusedJob:
        """Submit the call as a job, stored before this returns. A request refused at
        submission (invalid: exitcode 2; store or broker down: 4 or 9) gives a
        `RefusedJob` that is already done with that response, and no job exists."""
        from .errors import ConnectorError
        from .jobs.manager import RefusedJob

        try:
            return self._call.jobs.submit(self.request(), progress=self._progress)
        except ConnectorError as exc:
            return RefusedJob(exc, text_of(self._connector))

    def __repr__(self) -> str:
        return f"<RequestBuilder {self.request()!r}>"
