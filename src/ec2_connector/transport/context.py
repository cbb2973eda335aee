"""What an action's runner talks to EC2 through: one call's deadline, client and record."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..config import Target
from ..errors import InvalidRequest, MalformedResponse, TimedOut, translate
from .deadline import Deadline

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

    from .clients import ClientCache

Progress = Callable[[dict[str, Any]], None]
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Search")  # operations that change nothing
ItemSink = Callable[[dict[str, Any]], None]


class DryRunSucceeded(Exception):
    """EC2 said the dry run would have succeeded: a success, carried out of the runner."""


class Context:
    """One call's view of EC2. Every EC2 operation of an action goes through `call`."""

    def __init__(
        self,
        target: Target,
        deadline: Deadline,
        clients: ClientCache,
        *,
        include_raw_body: bool = False,
        progress: Progress | None = None,
        on_item: ItemSink | None = None,
    ) -> None:
        self.target = target
        self.deadline = deadline
        self.clients = clients
        self.include_raw_body = include_raw_body
        self.progress = progress
        self.on_item = on_item
        self.attempts = 0
        self.abandoned = False
        self.http_status: int | None = None
        self._headers: dict[str, str] | None = {}
        self._wire_headers: Any = None  # as the last answer came, until asked for
        self.request_id: str | None = None
        self.raw_body: str | None = None
        self.endpoint: str | None = None
        self.partial: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self._stop: threading.Event | None = None  # made by the first sleep: most never do
        self._held: set[Any] = set()
        self._held_lock = threading.Lock()
        # Called before each request to EC2 (a worker's shared rate limit), if set.
        self.throttle: Callable[[Context], None] | None = None
        # A job's check that it still holds the job, before each attempt of a mutating
        # operation, retries included (`lifecycle.Fence`, called by clients.py's hook
        # with the operation and botocore's attempt number): it raises when the job was
        # claimed again or cancelled, so nothing (more) is sent.
        self.fence: Callable[[str, int], None] | None = None

    def client(self) -> Any:
        remaining = self.deadline.remaining()
        if remaining <= 0 or self.abandoned:
            raise TimedOut("timed out before the request could be sent")
        try:
            client = self.clients.client_for(self.target)
        except Exception as exc:  # a broken AWS profile: botocore's text, no traceback
            raise translate(exc) from exc
        self.endpoint = client.meta.endpoint_url
        return client

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers of the last answer, names in lower case."""
        if self._headers is None:
            headers = self._wire_headers or {}
            self._headers = {str(k).lower(): str(v) for k, v in headers.items()}
        return self._headers

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Run one EC2 operation; botocore failures leave here already translated."""
        method = getattr(self.client(), _method_name(operation))
        try:
            result: dict[str, Any] = method(**kwargs)
        except _client_error() as exc:
            self._answered(exc.response.get("ResponseMetadata", {}))
            if exc.response.get("Error", {}).get("Code") == "DryRunOperation":
                raise DryRunSucceeded() from None
            raise translate(exc) from exc
        except TimedOut:
            raise
        except Exception as exc:
            self._answered({})
            error = translate(exc)
            if isinstance(error, MalformedResponse) and self.http_status:
                error.message += f" (HTTP {self.http_status})"
            raise error from exc
        self._answered(result.get("ResponseMetadata", {}))
        return result

    def check(self, operation: str, args: dict[str, Any], param: str) -> None:
        """InvalidRequest (nothing sent) unless `args` fit the operation's input in the
        model: for members a caller gives in EC2's own form (`param`), which botocore no
        longer checks on a named action's call (clients.py)."""
        from botocore.validate import ParamValidator

        shape = self.client().meta.service_model.operation_model(operation).input_shape
        report = ParamValidator().validate(args, shape)
        if report.has_errors():
            text = " ".join(report.generate_report().split())
            raise InvalidRequest(f"parameter '{param}' does not fit {operation}: {text}")

    def _answered(self, metadata: Mapping[str, Any]) -> None:
        """Keep the request id botocore parsed, else the answer's header's (if any)."""
        lowered = metadata.get("HTTPHeaders")
        if self._headers is None and isinstance(lowered, dict):
            self._headers = lowered  # lowered by botocore already: no second copy
        request_id = metadata.get("RequestId")
        if request_id is None and self._wire_headers is not None:
            request_id = self.headers.get("x-amzn-requestid")
        if request_id is not None:
            self.request_id = request_id

    def pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each fetched inside the deadline."""
        token: str | None = None
        while True:
            page = self.call(operation, **kwargs, **({"NextToken": token} if token else {}))
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def collect(self, items: list[dict[str, Any]], new: Iterator[dict[str, Any]]) -> None:
        """Add result items to `items`, or hand them to the caller's sink one by one so a
        listing of any size is streamed in bounded memory."""
        if self.on_item is None:
            items.extend(new)
            return
        for item in new:
            self.on_item(item)
            self.notes["streamed-items"] = self.notes.get("streamed-items", 0) + 1

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline; wake at once if the caller gave up."""
        with self._held_lock:  # made under the lock `abandon` sets it under: no lost wake-up
            if self._stop is None:
                self._stop = threading.Event()
                if self.abandoned:
                    self._stop.set()
            stop = self._stop
        remaining = self.deadline.remaining()
        if seconds >= remaining:
            stop.wait(remaining)
            raise TimedOut("timed out while waiting")
        if stop.wait(seconds):
            raise TimedOut("timed out while waiting")

    def abandon(self) -> None:
        """The deadline passed: stop sleeping, cut the connections in use, send nothing
        more. Safe from any thread, and more than once."""
        from .connections import cut

        self.abandoned = True
        # Under the lock: a connection given back meanwhile may already serve another call.
        with self._held_lock:
            if self._stop is not None:
                self._stop.set()
            for conn in self._held:
                cut(conn)
            self._held.clear()

    def hold(self, conn: Any) -> bool:
        """`conn` carries this call's traffic until `let_go`; False (and `conn` cut) if
        the call is already abandoned: then nothing more may go through it."""
        with self._held_lock:
            conn.held_by = self
            if self.abandoned:
                from .connections import cut  # here: every request holds, few are cut

                cut(conn)
                return False
            self._held.add(conn)
            return True

    def let_go(self, conn: Any) -> None:
        with self._held_lock:
            if conn.held_by is self:
                conn.held_by = None
            self._held.discard(conn)

    def report(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:  # a broken progress display must not fail the call
                self.progress = None

    def record_http(self, response: dict[str, Any]) -> None:
        self.http_status = response.get("status_code")
        # Lowered only when asked for: a parsed answer brings them lowered by botocore.
        self._wire_headers = response.get("headers")
        self._headers = None
        if self.include_raw_body:
            body = response.get("body") or b""
            self.raw_body = body.decode("utf-8", "replace") if isinstance(body, bytes) else None


_ClientError: type[ClientError] | None = None


def _client_error() -> type[ClientError]:
    # botocore is imported by the first call, not with this module (start-up time).
    global _ClientError
    if _ClientError is None:
        from botocore.exceptions import ClientError as error

        _ClientError = error
    return _ClientError


@functools.cache  # a few dozen operations, on every call's path
def _method_name(operation: str) -> str:
    """The client's method for an operation, named as boto3 names it."""
    from botocore import xform_name

    return xform_name(operation)
