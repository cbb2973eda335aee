"""The seed document's six Ruby examples, written in Python with this API."""

from __future__ import annotations

import logging
from typing import Any

from ec2_connector import Call
from tests.conftest import all_instances

log = logging.getLogger("flintbit")
REQUEST_TIMEOUT = 60000


def test_seed_flow(call: Call, config: dict[str, Any], ec2: Any, image_id: str) -> None:
    settings = config["connectors"]["aws-ec2"]
    connector_name = "aws-ec2"
    aws_region = "us-east-1"

    # Create Instance operation
    response = (call.connector(connector_name)
                .set("action", "create-instance")
                .set("image-id", image_id)
                .set("instance-type", "t2.micro")
                .set("min-instance", 2)
                .set("max-instance", 2)
                .set("region", aws_region)
                .set("availability-zone", "us-east-1a")
                .set("security-key", settings["security-key"])
                .set("access-key", settings["access-key"])
                .timeout(REQUEST_TIMEOUT)
                .sync())
    assert response.exitcode == 0, response.message
    instance_info = response.get("instance-info")
    for instance in instance_info:
        log.info("Instance ID : %s | Instance Type : %s | public IP : %s | private IP : %s",
                 instance.get("instance-id"), instance.get("instance-type"),
                 instance.get("public-ip"), instance.get("private-ip"))
    aws_instance_id = [i.get("instance-id") for i in instance_info]
    assert {i["InstanceId"] for i in all_instances(ec2)} == set(aws_instance_id)

    def state_call(action: str) -> Any:
        return (call.connector(connector_name)
                .set("action", action)
                .set("instance_id", aws_instance_id)
                .set("region", aws_region)
                .set("security-key", settings["security-key"])
                .set("access-key", settings["access-key"])
                .timeout(REQUEST_TIMEOUT)
                .sync())

    # Stop Instance operation
    response = state_call("stop-instances")
    assert response.exitcode == 0
    for instance in response.get("stop-instance-list"):
        assert instance.get("previous-state") == "running"
        assert instance.get("current-state") in ("stopping", "stopped")

    # Start Instance operation
    response = state_call("start-instances")
    assert response.exitcode == 0
    for instance in response.get("started-instances-set"):
        assert instance.get("previous-state") == "stopped"
        assert instance.get("instance-id") in aws_instance_id

    # Reboot Instance operation
    response = state_call("reboot-instances")
    assert response.exitcode == 0
    assert [str(i) for i in response.get("reboot-instance-id")] == aws_instance_id

    # Describe Instance operation
    response = state_call("describe-instances")
    assert response.exitcode == 0
    for instance in response.get("instances-info"):
        assert instance.get("image-id") == image_id
        assert instance.get("instance-state-name") == "running"
        assert instance.get("instance-state-code") == 16
        assert instance.get("instance-type") == "t2.micro"
        log.info("public DNS name : %s", instance.get("public-DNSname"))

    # Terminate Instance operation
    response = state_call("terminate-instances")
    assert response.exitcode == 0
    for instance in response.get("terminated-instance-set"):
        assert instance.get("previous-state") == "running"

    states = {i["State"]["Name"] for i in all_instances(ec2)}
    assert states == {"terminated"}

    # Connector request error handling
    aws_instance_id = ["i-0123456789abcdef0"]
    response = state_call("stop-instances")
    if response.exitcode == 0:  # noqa: SIM108 - the seed's own if/else, kept as written
        outcome = "success"
    else:
        outcome = "fail: Reason:" + response.message
    assert outcome == "fail: Reason:InvalidInstanceID.NotFound: none of the instances exist: " \
        "i-0123456789abcdef0"
