"""Launch template actions: create, describe, delete."""

from __future__ import annotations

import base64
from typing import Any

from ..spec.action import Action, In, Rerun
from ..spec.fields import TAGS, Fields
from ..spec.params import Group, Param, String, StringList, Text
from ..spec.resources import resource
from .shapes import CLIENT_TOKEN, FILTERS, FILTERS_IN, TAGS_PARAM, example_id, listing, tags_in

LT = example_id("launch-template")
TEMPLATE_FIELDS: Fields = {
    "launch-template-id": "LaunchTemplateId",
    "launch-template-name": "LaunchTemplateName",
    "default-version-number": "DefaultVersionNumber",
    "latest-version-number": "LatestVersionNumber",
    "create-time": "CreateTime",
    "created-by": "CreatedBy",
    "tags": TAGS,
}
NAME_TYPE = String(r"[a-zA-Z0-9().\-/_]{3,128}", "web-servers")
TEMPLATE_ID = Param("launch-template-id", resource("launch-template").id_type,
                    "the launch template's id")
TEMPLATE_NAME = Param("launch-template-name", NAME_TYPE, "the launch template's name")


def _user_data(text: str) -> str:
    # A template's user data is stored as given: EC2 wants it base64-encoded already.
    return base64.b64encode(text.encode()).decode()


DATA_PARAMS = ("image-id", "instance-type", "key-name", "security-group-id", "user-data")


def _data_required(p: dict[str, Any]) -> dict[str, Any]:
    # EC2 requires LaunchTemplateData, even empty.
    return {} if any(p.get(name) is not None for name in DATA_PARAMS) else {
        "LaunchTemplateData": {}}


ACTIONS = (
    Action(
        name="create-launch-template",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create a launch template: what create-instance launches with launch-template-*.",
        operation="CreateLaunchTemplate",
        resource="launch-template",
        params=(
            Param("launch-template-name", NAME_TYPE, "name of the template", required=True),
            Param("version-description", String(), "description of its first version"),
            Param("image-id", resource("image").id_type, "AMI to launch"),
            Param("instance-type", String(), "instance type, e.g. t3.micro"),
            Param("key-name", resource("key-pair").id_type, "key pair name"),
            Param("security-group-id", StringList(resource("security-group").id_type),
                  "security group ids"),
            Param("user-data", Text(), "user data text (base64-encoded for EC2 by us)",
                  secret=True),
            TAGS_PARAM, CLIENT_TOKEN,
        ),
        inputs={
            "launch-template-name": "LaunchTemplateName",
            "version-description": "VersionDescription",
            "image-id": "LaunchTemplateData.ImageId",
            "instance-type": "LaunchTemplateData.InstanceType",
            "key-name": "LaunchTemplateData.KeyName",
            "security-group-id": "LaunchTemplateData.SecurityGroupIds",
            "user-data": In("LaunchTemplateData.UserData", _user_data),
            "tags": tags_in("launch-template"),
            "client-token": "ClientToken",
        },
        build=_data_required,
        result="launch-template-info",
        item="LaunchTemplate",
        fields=TEMPLATE_FIELDS,
        example={"launch-template-name": "web-servers", "image-id": example_id("image"),
                 "instance-type": "t3.micro"},
    ),
    listing("launch-template", TEMPLATE_FIELDS, "launch-template-list",
            "Describe launch templates by id, name or filters, or all.",
            name="describe-launch-templates",
            params=(Param("launch-template-id", StringList(resource("launch-template").id_type),
                          "launch template ids"),
                    Param("launch-template-name", StringList(NAME_TYPE),
                          "launch template names"), FILTERS),
            inputs={"launch-template-id": "LaunchTemplateIds",
                    "launch-template-name": "LaunchTemplateNames", "filters": FILTERS_IN},
            example={"launch-template-name": ["web-servers"]}),
    Action(
        name="delete-launch-template",
        rerun=Rerun.MANUAL,
        doc="Delete a launch template and all its versions.",
        operation="DeleteLaunchTemplate",
        resource="launch-template",
        params=(TEMPLATE_ID, TEMPLATE_NAME),
        groups=(Group(("launch-template-id", "launch-template-name")),),
        inputs={"launch-template-id": "LaunchTemplateId",
                "launch-template-name": "LaunchTemplateName"},
        fields={"launch-template-id": "LaunchTemplate.LaunchTemplateId",
                "launch-template-name": "LaunchTemplate.LaunchTemplateName"},
        derive=lambda p: {"deleted": True},
        example={"launch-template-id": LT},
    ),
)
