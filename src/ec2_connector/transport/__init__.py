"""The wire layer: everything between an action's runner and EC2's HTTP answer.

- `context`: `Context`, what a runner talks to EC2 through (one call's deadline, client,
  record of attempts and request ids);
- `current`: the context of the call this thread is making, for botocore's hooks;
- `clients`: the botocore client cache and the hooks that stop an abandoned call;
- `connections`: urllib3 connections that can be cut at a deadline;
- `deadline`: `Deadline` and the `Watchdog` that abandons calls at theirs;
- `model`: botocore's EC2 model trimmed to the operations the actions call;
- `wire`: checks on a response as it came off the wire;
- `bulkhead`, `throttle`: how many calls an endpoint gets at once, and how fast;
- `regions`: which region a call goes to, and whether AWS has it;
- `sessions`: the botocore session a region lookup reads and the client cache builds on;
- `startup`: the garbage collector held off while a one-shot command starts.
"""

from __future__ import annotations

from ..lazy import exports

_EXPORTS = {
    "Context": "context", "ClientCache": "clients", "Deadline": "deadline",
    "Watchdog": "deadline", "Bulkhead": "bulkhead", "TokenBucket": "throttle",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
