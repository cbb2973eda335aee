"""Key pair actions: create, import, describe, delete.

A created key pair's private key (`key-material`) is a secret result: EC2 hands it out
once, and it goes to the caller of a sync call only. It is never in a job record, a log
or `raw-body`; an async create writes it to the file named by `key-file` (mode 0600) and
its job's result says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Fields
from ..spec.params import Choice, Group, Param, String, StringList, Text
from ..spec.resources import resource
from ..transport.context import Context
from .shapes import FILTERS, FILTERS_IN, TAGS_PARAM, listing, tag_specs, tags_in

KEY_FIELDS: Fields = {
    "key-name": "KeyName",
    "key-pair-id": "KeyPairId",
    "key-fingerprint": "KeyFingerprint",
    "key-type": "KeyType",
    "create-time": "CreateTime",
    "tags": TAGS,
}
KEY_NAME = Param("key-name", resource("key-pair").id_type, "name of the key pair", required=True)
KEY_PAIR_ID_TYPE = String(r"key-[0-9a-f]{17}", "key-0123456789abcdef0")
KEY_PAIR_ID = Param("key-pair-id", KEY_PAIR_ID_TYPE, "id of the key pair")


def write_key_file(path: str, material: str) -> None:
    """Write a private key where only its owner can read it; never over an existing file."""
    target = Path(path).expanduser()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidRequest(f"parameter 'key-file': {target} already exists") from None
    except OSError as exc:
        raise InvalidRequest(f"parameter 'key-file': cannot write {target}: "
                             f"{exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(material)


def _key_file_is_new(p: dict[str, Any]) -> None:
    if p.get("key-file") and Path(p["key-file"]).expanduser().exists():
        raise InvalidRequest(f"parameter 'key-file': {p['key-file']} already exists")


def create_key_pair(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"KeyName": p["key-name"], "KeyType": p["key-type"],
                            "KeyFormat": p["key-format"]}
    if p.get("tags"):
        args["TagSpecifications"] = tag_specs("key-pair", p["tags"])
    if p.get("dry-run"):
        args["DryRun"] = True
    result = ctx.call("CreateKeyPair", **args)
    if ctx.raw_body is not None:
        ctx.raw_body = None  # the body holds the private key
        ctx.notes["raw-body"] = "withheld: the response holds a secret result"
    info = {k: result.get(v) for k, v in (("key-name", "KeyName"), ("key-pair-id", "KeyPairId"),
                                          ("key-fingerprint", "KeyFingerprint"))}
    material = str(result.get("KeyMaterial") or "")
    if p.get("key-file"):
        write_key_file(p["key-file"], material)
        info["key-file"] = str(Path(p["key-file"]).expanduser())
    else:
        info["key-material"] = material
    return {"key-pair-info": info}


ACTIONS = (
    Action(
        name="create-key-pair",
        rerun=Rerun.MANUAL,
        doc="Create a key pair; its private key is returned once, or written to key-file.",
        run=create_key_pair,
        operation="CreateKeyPair",
        resource="key-pair",
        params=(
            KEY_NAME,
            Param("key-type", Choice("rsa", "ed25519"), "key type", default="rsa"),
            Param("key-format", Choice("pem", "ppk"), "private key format", default="pem"),
            Param("key-file", String(), "write the private key to this new file (mode 0600) "
                  "instead of returning it; needed for an async create"),
            TAGS_PARAM,
        ),
        check=_key_file_is_new,
        result="key-pair-info",
        secret_results=("key-material",),
        async_requires="key-file",
        example={"key-name": "deploy"},
    ),
    Action(
        name="import-key-pair",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Import the public key of a key pair you made yourself.",
        operation="ImportKeyPair",
        resource="key-pair",
        params=(KEY_NAME, Param("public-key-material", Text(),
                                "the public key, e.g. the text of id_ed25519.pub",
                                required=True), TAGS_PARAM),
        inputs={"key-name": "KeyName", "public-key-material": "PublicKeyMaterial",
                "tags": tags_in("key-pair")},
        result="key-pair-info",
        item="@",
        fields={k: v for k, v in KEY_FIELDS.items() if k in ("key-name", "key-pair-id",
                                                              "key-fingerprint", "tags")},
        example={"key-name": "mine", "public-key-material": "ssh-ed25519 AAAAC3Nza me@host"},
    ),
    listing("key-pair", KEY_FIELDS, "key-pair-list",
            "Describe key pairs by name, id or filters, or all.",
            name="describe-key-pairs",
            params=(Param("key-name", StringList(resource("key-pair").id_type), "key names"),
                    Param("key-pair-id", StringList(KEY_PAIR_ID_TYPE), "key pair ids"),
                    FILTERS),
            inputs={"key-name": "KeyNames", "key-pair-id": "KeyPairIds",
                    "filters": FILTERS_IN},
            example={"key-name": ["deploy"]}),
    Action(
        name="delete-key-pair",
        rerun=Rerun.MANUAL,
        doc="Delete a key pair (instances launched with it keep their key).",
        operation="DeleteKeyPair",
        resource="key-pair",
        params=(Param("key-name", resource("key-pair").id_type, "name of the key pair"),
                KEY_PAIR_ID),
        groups=(Group(("key-name", "key-pair-id")),),
        inputs={"key-name": "KeyName", "key-pair-id": "KeyPairId"},
        echo=("key-name", "key-pair-id"),
        derive=lambda p: {"deleted": True},
        example={"key-name": "deploy"},
    ),
)
