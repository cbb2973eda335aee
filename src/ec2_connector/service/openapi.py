"""The service's OpenAPI schema: the request body of a call, from the catalog, and
FastAPI's schema with its 422 answers replaced by the 400 the service sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..actions import catalog

if TYPE_CHECKING:
    from fastapi import FastAPI


def request_body() -> dict[str, Any]:
    """The OpenAPI body: `action` plus a free-form set of that action's parameters."""
    schema = {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"type": "string", "enum": catalog.names(),
                       "description": "the action; its parameters: GET /v1/actions"},
            "timeout": {"type": "integer", "minimum": 1,
                        "description": "bound on the whole call in ms (default 60000)"},
        },
        "additionalProperties": True,
    }
    # One example per action, each its declared `example`: the same request the catalog,
    # `ec2-connector actions NAME` and the property test use, so none can drift.
    examples = {
        name: {"summary": catalog.get(name).doc.split("\n", 1)[0],
               "value": {"action": name, **catalog.get(name).example}}
        for name in catalog.names()
    }
    media = {"schema": schema, "examples": examples}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}



def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its 422 answers replaced by the 400 this service sends."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        refused = {"description": "invalid request", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Envelope"}}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", refused)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
