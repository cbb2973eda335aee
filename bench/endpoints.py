"""The endpoints and clients the benchmarks compare: moto, the canned server, boto3, Call."""

from __future__ import annotations

import os
from typing import Any

# Fake credentials, no metadata service, no user config: nothing may reach AWS.
BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000000",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
os.environ.update(BENCH_ENV)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
    os.environ.pop(_name, None)

from tests.conftest import MotoServer  # noqa: E402  (after the environment is set)
from tests.harness import CannedEC2Server, instance_id  # noqa: E402
from tests.harness.canned_process import CannedProcess  # noqa: E402

__all__ = [
    "BENCH_ENV", "CannedEC2Server", "CannedProcess", "MotoServer", "boto3_client",
    "connector_config", "instance_id", "launch_on_moto",
]


def boto3_client(url: str, pool: int = 10) -> Any:
    """A plain boto3 EC2 client, defaults except the endpoint and pool size."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=url,
        config=Config(max_pool_connections=pool),
    )


def connector_config(url: str, **extra: Any) -> dict[str, Any]:
    """A connector config aimed at `url` with the benchmark's credentials."""
    connector = {
        "access-key": BENCH_ENV["AWS_ACCESS_KEY_ID"],
        "security-key": BENCH_ENV["AWS_SECRET_ACCESS_KEY"],
        "region": "us-east-1", "endpoint-url": url, **extra,
    }
    return {"connectors": {"aws-ec2": connector}}


def launch_on_moto(url: str, count: int) -> list[str]:
    """Launch `count` instances on a moto server; return their ids."""
    client = boto3_client(url)
    image = sorted(i["ImageId"] for i in client.describe_images(Owners=["amazon"])["Images"])[0]
    result = client.run_instances(ImageId=image, MinCount=count, MaxCount=count,
                                  InstanceType="t2.micro")
    return [i["InstanceId"] for i in result["Instances"]]
