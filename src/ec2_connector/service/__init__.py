"""The HTTP service (`ec2-connector serve`): a thin layer over `Call`.

- `app`: the FastAPI app, its routes, auth and envelopes, and `serve`;
- `admission`: what it admits: requests that arrive whole in time, only so many at once.
"""

from __future__ import annotations

from ..lazy import exports

_EXPORTS = {"create_app": "app", "serve": "app"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
