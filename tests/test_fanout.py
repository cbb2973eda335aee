"""One read-only call over every region, a list of regions, or several connectors."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, Runtime, Settings
from tests.harness import CannedEC2Server, RefusingEndpoint, RequestHandler, ec2_error_xml
from tests.harness.calls import client, launch_in
from tests.harness.canned import NOT_OPTED_IN
from tests.harness.canned import REGIONS as CANNED_REGIONS

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def test_every_region_finds_instances_in_three(call: Call, endpoint: str) -> None:
    launched = {region: launch_in(endpoint, region) for region in REGIONS}
    enabled = {r["RegionName"] for r in client(endpoint, "us-east-1").describe_regions(
        AllRegions=True)["Regions"] if r["OptInStatus"] != "not-opted-in"}
    streamed: list[dict[str, Any]] = []
    response = (call.connector("aws-ec2").set("action", "describe-instances")
                .set("region", "*").set("max-parallel", 8).sync())
    assert response.exitcode == 0, response.message
    found = {i["instance-id"]: i["region"] for i in response.get("instances-info")}
    assert found == {iid: region for region, iid in launched.items()}
    report = response.get("regions")
    assert {r["region"] for r in report} == enabled and all(r["ok"] for r in report)
    assert sum(r["count"] for r in report) == 3

    listed = (call.connector("aws-ec2").set("action", "list-instances")
              .set("region", ["eu-west-1", "ap-southeast-2"]).on_item(streamed.append).sync())
    assert listed.exitcode == 0, listed.message
    assert sorted((i["instance-id"], i["region"]) for i in streamed) == sorted(
        (launched[r], r) for r in ("eu-west-1", "ap-southeast-2"))


def test_an_unreachable_connector_is_a_partial_failure(endpoint: str, tmp_path: Path) -> None:
    iid = launch_in(endpoint, "us-east-1")
    with RefusingEndpoint() as refusing:
        config = {"connectors": {
            "good": {"endpoint-url": endpoint, "region": "us-east-1"},
            "down": {"endpoint-url": refusing.url, "region": "us-east-1", "max-attempts": 1},
        }}
        with Call(config=config, home=tmp_path / "home") as call:
            response = (call.connector("good").set("action", "describe-instances")
                        .set("connectors", ["good", "down"]).set("timeout", 20000).sync())
    assert response.exitcode == 8, response.message
    assert [(i["instance-id"], i["connector"]) for i in response.get("instances-info")] == [
        (iid, "good")]
    by_name = {r["connector"]: r for r in response.get("regions")}
    assert by_name["good"]["ok"] and by_name["good"]["count"] == 1
    assert not by_name["down"]["ok"] and by_name["down"]["exitcode"] == 4


def test_fan_out_refuses_changes_and_bad_input(call: Call, endpoint: str) -> None:
    for params, text in [
        ({"action": "stop-instances", "instance-id": "i-0123456789abcdef0", "region": "*"},
         "only read-only actions"),
        ({"action": "call-operation", "operation": "CreateTags", "region": ["us-east-1"]},
         "only read-only actions"),
        ({"action": "describe-instances", "region": ["us-east-1", "-bad-"]},
         "'region' is malformed"),
        ({"action": "describe-instances", "connectors": ["aws-ec2", "nope"]},
         "unknown connector 'nope'"),
        ({"action": "describe-instances", "region": "*", "max-parallel": 0}, "max-parallel"),
        ({"action": "describe-instances", "region": "*", "colour": 1}, "unknown parameter"),
    ]:
        response = call.execute("aws-ec2", params)
        assert response.exitcode == 2, (params, response.message)
        assert text in response.message
        assert response.meta["attempts"] == 0


def test_every_region_of_the_canned_endpoint_leaves_out_the_one_not_opted_in(
        tmp_path: Path) -> None:
    with CannedEC2Server(instances=2) as canned:
        config = {"connectors": {"aws-ec2": {
            "endpoint-url": canned.url, "region": "us-east-1", "access-key": "AKIATEST",
            "security-key": "testing"}}}
        with Call(config=config, home=tmp_path / "home") as call:
            response = (call.connector("aws-ec2").set("action", "describe-instances")
                        .set("region", "*").sync())
        served = canned.served_by_action
    assert response.exitcode == 0, response.message
    assert sorted(r["region"] for r in response.get("regions")) == sorted(CANNED_REGIONS)
    assert NOT_OPTED_IN not in {i["region"] for i in response.get("instances-info")}
    assert len(response.get("instances-info")) == 2 * len(CANNED_REGIONS)
    assert served == {"DescribeRegions": 1, "DescribeInstances": len(CANNED_REGIONS)}


def test_an_async_job_runs_over_regions_and_connectors(endpoint: str, tmp_path: Path) -> None:
    launched = {region: launch_in(endpoint, region) for region in REGIONS}
    config = {"connectors": {
        "east": {"endpoint-url": endpoint, "region": "us-east-1"},
        "west": {"endpoint-url": endpoint, "region": "eu-west-1"},
    }}
    with Call(config=config, home=tmp_path / "home") as call:
        job = (call.connector("east").set("action", "describe-instances")
               .set("region", list(REGIONS)).async_())
        response = job.wait(30000)
        assert response.exitcode == 0, response.message
        assert {i["instance-id"]: i["region"] for i in response.get("instances-info")} == {
            iid: region for region, iid in launched.items()}

        accounts = call.connector(["east", "west"]).set("action", "describe-instances").async_()
        both = accounts.wait(30000)
        record = accounts.record()
    assert both.exitcode == 0, both.message
    assert sorted((i["connector"], i["region"]) for i in both.get("instances-info")) == [
        ("east", "us-east-1"), ("west", "eu-west-1")]
    # Where each connector went is kept, so that a resume can check every one of them.
    assert {name: t["region"] for name, t in record.target["connectors"].items()} == {
        "east": "us-east-1", "west": "eu-west-1"}


def test_cli_async_over_every_region_and_its_refusals(endpoint: str, tmp_path: Path) -> None:
    from tests.harness.cli import assert_one_line_error, clean_env, envelope, run_cli

    iid = launch_in(endpoint, "ap-southeast-2")
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"connectors": {"aws-ec2": {
        "endpoint-url": endpoint, "region": "us-east-1"}}}))
    env = {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(path)}
    submitted = run_cli(env, "call", "describe-instances", "region=*", "max-parallel=8",
                        "--async")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job-id"]
    body = envelope(run_cli(env, "jobs", "wait", job_id, "--timeout", "60000"))
    assert body["exitcode"] == 0, body["message"]
    assert [(i["instance-id"], i["region"]) for i in body["data"]["instances-info"]] == [
        (iid, "ap-southeast-2")]
    assert len(body["data"]["regions"]) > 3

    for args, text in [
        (["stop-instances", "instance-id=i-0123456789abcdef0", "region=*"],
         "only read-only actions"),
        (["describe-instances", "region:=[\"us-east-1\", \"-bad-\"]"], "'region' is malformed"),
        (["describe-instances", "connectors:=[\"aws-ec2\", \"nope\"]"], "unknown connector"),
    ]:
        refused = run_cli(env, "call", *args, "--async")
        assert text in assert_one_line_error(refused, 2), args
    listed = json.loads(run_cli(env, "jobs", "list").stdout)
    assert [job["job-id"] for job in listed] == [job_id]  # no refused request became a job


def test_an_interrupted_fan_out_job_resumes_only_where_each_connector_went(
        endpoint: str, tmp_path: Path) -> None:
    from ec2_connector.errors import InvalidRequest
    from ec2_connector.jobs.record import JobStatus

    keys = {"endpoint-url": endpoint, "access-key": "testing", "security-key": "testing"}
    config: dict[str, Any] = {"connectors": {"east": {**keys, "region": "us-east-1"},
                                             "west": {**keys, "region": "eu-west-1"}}}
    with Call(config=config, home=tmp_path / "home") as call:
        job = call.connector(["east", "west"]).set("action", "describe-instances").async_()
        assert job.wait(30000).exitcode == 0
        # As a sweep marks the job of a dead holder:
        assert call.jobs.store.transition(job.id, [JobStatus.SUCCEEDED],
                                          status=JobStatus.INTERRUPTED)
    config["connectors"]["west"]["region"] = "ap-south-1"
    with Call(config=config, home=tmp_path / "home") as call:
        with pytest.raises(InvalidRequest, match="connector 'west' now goes to"):
            call.jobs.resume(job.id)
        resumed = call.jobs.resume(job.id, force=True).wait(30000)
    assert resumed.exitcode == 0, resumed.message
    assert sorted((r["connector"], r["region"]) for r in resumed.get("regions")) == [
        ("east", "us-east-1"), ("west", "ap-south-1")]


def test_a_region_list_given_as_text(call: Call, endpoint: str) -> None:
    launched = {region: launch_in(endpoint, region) for region in REGIONS[1:]}
    # As a shell gives them: `region="$(aws ... --output text)"`, or comma-separated.
    for text in ("eu-west-1 ap-southeast-2", "eu-west-1,ap-southeast-2", " eu-west-1\t"
                 "ap-southeast-2\n", '["eu-west-1", "ap-southeast-2"]'):
        response = call.execute("aws-ec2", {"action": "describe-instances", "region": text})
        assert response.exitcode == 0, (text, response.message)
        assert {i["instance-id"]: i["region"] for i in response.get("instances-info")} == {
            iid: region for region, iid in launched.items()}, text
    bad = call.execute("aws-ec2", {"action": "describe-instances", "region": "eu-west-1 -x-"})
    assert bad.exitcode == 2 and "'-x-'" in bad.message and bad.meta["attempts"] == 0


def test_the_client_cache_holds_every_region_of_every_connector(tmp_path: Path) -> None:
    from ec2_connector import Runtime, Settings

    runtime = Runtime(Settings(max_clients=8))
    with CannedEC2Server(instances=1) as canned:
        config = {"connectors": {
            name: {"endpoint-url": canned.url, "region": "us-east-1",
                   "access-key": f"AKIA{n:016d}", "security-key": "testing"}
            for n, name in enumerate(("a", "b", "c"))}}
        with Call(config=config, home=tmp_path / "home", runtime=runtime) as call:
            for _ in range(2):
                response = (call.connector(["a", "b", "c"]).set("action", "describe-instances")
                            .set("region", "*").sync())
                assert response.exitcode == 0, response.message
                # Every connector x region keeps its client (the configured 8 would churn).
                assert len(runtime.clients) == 3 * len(CANNED_REGIONS)
    runtime.close()


HOLD_S = 10.0


class _RegionAware(CannedEC2Server):
    """The canned endpoint, counting the requests in flight at once, and answering
    DescribeInstances in the regions of `refusing` as a region not enabled does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refusing: set[str] = set()
        self.peak = self._now = 0
        # DescribeInstances answers wait until this many requests are in flight (at most
        # HOLD_S): a wave's calls are all seen at once however slowly a loaded machine
        # starts them.
        self.hold_until = 0
        self._lock = threading.Condition()

    def respond(self, req: RequestHandler) -> None:
        scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", req.headers.get("Authorization", ""))
        if scope and scope.group(1) in self.refusing and "DescribeRegions" not in str(
                req.params()):
            body = ec2_error_xml("AuthFailure", "AWS was not able to validate the credentials")
            req.send_body(401, body)
            return
        with self._lock:
            self._now += 1
            self.peak = max(self.peak, self._now)
            self._lock.notify_all()
            if "DescribeInstances" in str(req.params()):
                self._lock.wait_for(lambda: self._now >= self.hold_until, HOLD_S)
        try:
            super().respond(req)
        finally:
            with self._lock:
                self._now -= 1


@contextmanager
def _every_region(tmp_path: Path, ttl_s: int = 3600, delay_ms: float = 0
                  ) -> Iterator[tuple[Call, _RegionAware]]:
    runtime = Runtime(Settings(regions_ttl_s=ttl_s))
    with _RegionAware(instances=1, delay_ms=delay_ms) as canned:
        config = {"connectors": {"aws-ec2": {
            "endpoint-url": canned.url, "region": "us-east-1", "access-key": "AKIATEST",
            "security-key": "testing", "max-attempts": 1}}}
        with Call(config=config, home=tmp_path / "home", runtime=runtime) as call:
            yield call, canned
    runtime.close()


def _everywhere(call: Call) -> Any:
    return call.connector("aws-ec2").set("action", "describe-instances").set("region", "*")


def test_the_region_list_is_kept_until_it_expires(tmp_path: Path) -> None:
    with _every_region(tmp_path, ttl_s=2) as (call, canned):
        for _ in range(2):
            response = _everywhere(call).sync()
            assert response.exitcode == 0, response.message
            assert len(response.get("regions")) == len(CANNED_REGIONS)
        assert canned.served_by_action["DescribeRegions"] == 1  # the second asked none
        time.sleep(2.1)
        assert _everywhere(call).sync().exitcode == 0
        assert canned.served_by_action["DescribeRegions"] == 2  # stale: asked again
        assert canned.served_by_action["DescribeInstances"] == 3 * len(CANNED_REGIONS)


def test_a_region_refusing_the_account_has_the_list_asked_for_again(tmp_path: Path) -> None:
    with _every_region(tmp_path) as (call, canned):
        assert _everywhere(call).sync().exitcode == 0
        canned.refusing = {"eu-west-3"}  # as if the account left the region since
        response = _everywhere(call).sync()
        assert response.exitcode == 8, response.message
        failed = [r for r in response.get("regions") if not r["ok"]]
        assert [(r["region"], r["exitcode"]) for r in failed] == [("eu-west-3", 5)]
        assert canned.served_by_action["DescribeRegions"] == 1
        canned.refusing = set()
        assert _everywhere(call).sync().exitcode == 0
        assert canned.served_by_action["DescribeRegions"] == 2  # refreshed after the refusal
        assert _everywhere(call).sync().exitcode == 0
        assert canned.served_by_action["DescribeRegions"] == 2


def test_every_region_is_one_wave_by_default(tmp_path: Path) -> None:
    with _every_region(tmp_path, delay_ms=800) as (call, canned):
        # Each answer waits for every region's call to be in flight with it: in waves of
        # 16 the first wave would wait HOLD_S and the peak stay 16.
        canned.hold_until = len(CANNED_REGIONS)
        assert _everywhere(call).set("timeout", 30000).sync().exitcode == 0
        assert canned.peak >= len(CANNED_REGIONS) > 16  # one wave: all at once
        # A handler does its bookkeeping just after its answer is sent, so the next request
        # may be counted before the last one leaves: the counts are bounds, not equalities.
        canned.peak, canned.hold_until = 0, 0
        assert _everywhere(call).set("max-parallel", 4).sync().exitcode == 0
        assert 4 <= canned.peak < 8  # a given max-parallel still bounds it (17 if not)
