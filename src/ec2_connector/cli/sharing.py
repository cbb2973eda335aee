"""The `token` and `audit` commands: the shared service's principals and its audit trail.

`token create` writes a principal into the config file (only a salted hash of its token)
and prints the token once, on stdout alone, so `token=$(ec2-connector token create ...)`
keeps it; `token list` shows the principals (never a hash), `token revoke` removes one.
`audit` reads the trail the service writes ($EC2_CONNECTOR_AUDIT_FILE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..settings import CONFIG_ENV, Settings
from .options import Parser, UsageError, positive, register
from .output import use_colour
from .render import to_json
from .table import columns_for, render_table, text_rows

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


@register("token", 60)
def add_token(commands: Any) -> None:
    token = commands.add_parser(
        "token", help="the service's principals: create (prints the token once), list, revoke",
        description="Principals are the callers of the HTTP service, each with a token, a "
        "role and optional limits, kept in the config file (only a salted hash of the token).")
    sub = token.add_subparsers(dest="token_command", required=True,
                               metavar="create|list|revoke|secret",
                               parser_class=Parser, help="what to do with principals")
    create = sub.add_parser("create", help="add (or replace) a principal; print its token once")
    create.add_argument("name", metavar="NAME", help="the principal's name, e.g. ci or alice")
    create.add_argument("--role", required=True, choices=("viewer", "operator", "admin"),
                        help="viewer: read-only actions; operator: also mutating ones; "
                        "admin: everything, and every principal's jobs")
    create.add_argument("--connectors", nargs="+", metavar="NAME",
                        help="only these connectors (default: all)")
    create.add_argument("--actions", nargs="+", metavar="GLOB",
                        help="only actions matching these globs, e.g. 'describe-*' 'stop-*'")
    create.add_argument("--max-targets", type=positive, metavar="N",
                        help="at most N resources touched by one mutating request")
    create.add_argument("--call-operation-mutate", choices=("yes", "no"),
                        help="may call-operation run operations that change things "
                        "(default: yes for admin, no otherwise)")
    listing = sub.add_parser("list", help="the principals, their roles and limits")
    revoke = sub.add_parser("revoke", help="remove a principal: its token stops working "
                            "when the service restarts")
    revoke.add_argument("name", metavar="NAME", help="the principal to remove")
    secret = sub.add_parser("secret", help="print the secret a principal's completion "
                            "callbacks are signed with (HMAC-SHA256, Standard Webhooks)")
    secret.add_argument("name", metavar="NAME", help="the principal")
    for command in (create, listing, revoke, secret):
        command.add_argument("--config", metavar="FILE",
                             help="the service's config file (default: $EC2_CONNECTOR_CONFIG)")
    token.set_defaults(run=cmd_token)


@register("audit", 70)
def add_audit(commands: Any) -> None:
    audit = commands.add_parser(
        "audit", help="read the service's audit trail, with filters",
        description="The service writes one JSON line per request to $EC2_CONNECTOR_AUDIT_FILE"
        ": who, what, on which targets, and how it ended. Times: ISO 8601 "
        "(2026-12-07T02:00:00Z) or an age (30m, 2h, 7d ago).")
    audit.add_argument("--file", metavar="PATH",
                       help="the audit file (default: $EC2_CONNECTOR_AUDIT_FILE)")
    audit.add_argument("--broker", metavar="URL", help="read the stream in this Redis (the "
                       "services' broker; default $EC2_CONNECTOR_BROKER when no file is given)")
    audit.add_argument("--principal", metavar="NAME", help="only this principal's requests")
    audit.add_argument("--action", metavar="GLOB", help="only these actions, e.g. 'stop-*'")
    audit.add_argument("--since", metavar="TIME", help="from this time on")
    audit.add_argument("--until", metavar="TIME", help="up to this time")
    audit.add_argument("--limit", type=positive, metavar="N", help="only the last N lines")
    audit.add_argument("-o", "--output", choices=("json", "table", "text"),
                       help="table (the default on a terminal), json (a list of the lines; "
                       "the default into a pipe) or text (tab-separated rows)")
    audit.set_defaults(run=cmd_audit)


# ------------------------------------------------------------------------- token


def cmd_token(args: argparse.Namespace, extra: list[str]) -> int:
    from ..service.callbacks import new_secret
    from ..service.principals import ANONYMOUS, LEGACY_NAME, Principal, hash_token, new_token

    path = _config_path(args.config)
    document = _read(path)
    principals = dict(document.get("principals") or {})
    if args.token_command == "list":
        hidden = ("token-hash", "callback-secret")
        rows = [{"name": n, **{k: v for k, v in e.items() if k not in hidden}}
                for n, e in sorted(principals.items())]
        print(to_json(rows))
        return 0
    if args.token_command == "secret":
        if args.name not in principals:
            raise UsageError(f"token secret: no principal '{args.name}' in {path}")
        print(principals[args.name].get("callback-secret") or "")
        return 0
    if args.token_command == "revoke":
        if principals.pop(args.name, None) is None:
            raise UsageError(f"token revoke: no principal '{args.name}' in {path}")
        _write(path, {**document, "principals": principals})
        print(f"principal '{args.name}' removed from {path}", file=sys.stderr)
        return 0
    if not _NAME.fullmatch(args.name) or args.name in (LEGACY_NAME, ANONYMOUS):
        raise UsageError(f"token create: '{args.name}' cannot name a principal: use letters, "
                         f"digits and _ . @ - (not '{LEGACY_NAME}' or '{ANONYMOUS}')")
    _check_connectors(document, args.connectors or ())
    token = new_token()
    mutate = args.call_operation_mutate
    principal = Principal(
        args.name, args.role, hash_token(token),
        connectors=tuple(args.connectors) if args.connectors else None,
        actions=tuple(args.actions) if args.actions else ("*",), max_targets=args.max_targets,
        call_operation_mutate=args.role == "admin" if mutate is None else mutate == "yes",
        callback_secret=new_secret())
    principals[args.name] = principal.to_entry()
    _write(path, {**document, "principals": principals})
    print(token)
    print(f"principal '{args.name}' ({args.role}) written to {path}; the token above is "
          "shown this once", file=sys.stderr)
    return 0


def _config_path(given: str | None) -> Path:
    path = given or Settings.from_env().config
    if not path:
        raise UsageError(f"no config file: give --config FILE or set {CONFIG_ENV}")
    return Path(path)


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"connectors": {}}
    from ..config import Connectors

    connectors = Connectors(path)
    connectors.names()  # a config the service would refuse is refused here too
    return dict(connectors.document())


def _check_connectors(document: dict[str, Any], names: Any) -> None:
    from ..config import DEFAULT_CONNECTOR

    known = {*(document.get("connectors") or {}), DEFAULT_CONNECTOR}
    for name in names:
        if name not in known:
            raise UsageError(f"token create: no connector '{name}' in the config (known: "
                             f"{', '.join(sorted(known))})")


def _write(path: Path, document: dict[str, Any]) -> None:
    """Replace the file in one step (a reader sees the old or the new, never half), with
    its permissions kept: it may hold connector keys; a new file is readable by us only."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ------------------------------------------------------------------------- audit


def cmd_audit(args: argparse.Namespace, extra: list[str]) -> int:
    from ..service import audit
    from .output import chosen_output

    settings = Settings.from_env()
    broker = args.broker or (None if args.file else settings.broker)
    path = args.file or settings.audit_file
    if not (path or broker):
        raise UsageError("no audit trail: give --file PATH or --broker URL, or set "
                         "EC2_CONNECTOR_AUDIT_FILE or EC2_CONNECTOR_BROKER")
    since = None if args.since is None else audit.parse_time(args.since, "--since")
    until = None if args.until is None else audit.parse_time(args.until, "--until")
    filters = {"principal": args.principal, "action": args.action, "since": since,
               "until": until}
    if broker:
        from ..jobs.redis import RedisJobStore

        store = RedisJobStore(broker)
        store.ping()  # out of reach: one line, exitcode 4
        lines = list(audit.read_stream(store.client, **filters))
    else:
        lines = list(audit.read(str(path), **filters))
    if args.limit:
        lines = lines[-args.limit:]
    output = chosen_output(args)
    if output == "json":
        print(to_json(lines))
        return 0
    rows = [_row(line) for line in lines]
    if output == "text":
        print("\n".join(text_rows(list(r.values()) for r in rows)))
    elif not rows:
        print("(no audit lines)")
    else:
        terminal = sys.stdout.isatty()
        print("\n".join(render_table(
            rows, columns_for(rows, None),
            width=shutil.get_terminal_size().columns if terminal else None,
            colour=terminal and use_colour())))
    return 0


def _row(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": line.get("time"), "principal": line.get("principal"),
        "action": line.get("action"), "connector": line.get("connector"),
        "targets": ",".join(line.get("targets") or []), "status": line.get("status"),
        "exitcode": line.get("exitcode"), "job": (line.get("job-id") or "")[:12],
        "message": str(line.get("message") or "")[:60],
    }
