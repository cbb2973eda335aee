"""The declaration language: how an action, its parameters, its result fields and the
EC2 resources it works on are stated, as data.

- `action`: `Action` (one action's parameters, EC2 operation, input mapping, result) and
  the parameters every action accepts;
- `params`: parameter types and their conversion contracts (`Param`, `String`, ...);
- `netparams`: the types of where a call goes (region, endpoint URL, intervals);
- `fields`: result fields, mapped from EC2's output by JMESPath paths;
- `resources`: each EC2 resource's facts in one table (id pattern, not-found code,
  waiters, table columns, tag type);
- `records`: `record`, the dataclass these (and the settings, a request) are written as,
  made without compiling its methods at import.

It imports nothing of the catalog (`actions/`), which is written in it.
"""

from __future__ import annotations

from ..lazy import exports

_EXPORTS = {
    "Action": "action", "In": "action", "CONNECTION_PARAMS": "action",
    "Param": "params", "Group": "params",
    "Field": "fields", "Fields": "fields",
    "Resource": "resources", "RESOURCES": "resources", "resource": "resources",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
