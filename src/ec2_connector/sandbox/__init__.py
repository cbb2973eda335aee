"""An EC2-compatible sandbox (moto's server) to try calls on, and the demo that tours it.

- `server`: `Sandbox`, a moto server on a free loopback port (`ec2-connector sandbox`);
- `demo`: `ec2-connector demo`: launch, tag, stop and terminate in an embedded sandbox.
"""

from __future__ import annotations

from ..lazy import exports

_EXPORTS = {"Sandbox": "server", "SandboxUnavailable": "server"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
