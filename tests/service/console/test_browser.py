"""The console in a real headless Chromium, against a real service whose jobs are shared
through a real Redis and run by a real worker process, on moto; read back with boto3.

One browser and one service for the module: the tests sign in as they need.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import MotoServer, launch
from tests.harness.browser import Browser
from tests.harness.redis import RedisServer
from tests.harness.service import ServiceProcess
from tests.harness.workers import LEASE, SWEEP, Worker
from tests.service.console.conftest import TOKENS, audit_lines, console_config, states

# The screenshots are taken on every run; they replace docs/images only when asked
# (`UPDATE_SCREENSHOTS=1 ./dev test tests/service/console`), so a run leaves the checkout
# as it found it.
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


@dataclass
class Shared:
    url: str
    audit: Path
    browser: Browser
    images: Path

    def screenshot(self, name: str) -> None:
        path = self.images / name
        self.driver.save_screenshot(str(path))
        assert path.read_bytes().startswith(b"\x89PNG"), path

    @property
    def driver(self) -> Any:
        return self.browser.driver

    def submit(self, who: str, body: dict[str, Any]) -> str:
        """A job submitted through the API, as a script would."""
        answer = httpx.post(f"{self.url}/v1/connectors/aws-ec2/async", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {TOKENS[who]}"})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job-id"])

    def sign_in(self, who: str) -> None:
        self.driver.delete_all_cookies()
        self.driver.get(f"{self.url}/console/sign-in")
        self.driver.find_element(By.ID, "token").send_keys(TOKENS[who] + Keys.ENTER)
        self.until(lambda d: d.current_url.endswith("/console/jobs"))

    def until(self, check: Callable[[Any], Any], seconds: float = 30) -> Any:
        # A page that reloads itself (a job's, when it ends) leaves stale elements behind.
        return WebDriverWait(self.driver, seconds, poll_frequency=0.1, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException)).until(check)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "main").text)

    def focused(self) -> Any:
        return self.driver.switch_to.active_element


@pytest.fixture(scope="module")
def shared(moto_server: MotoServer, redis_server: RedisServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("console-browser")
    images = DOCS_IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp
    images.mkdir(exist_ok=True)
    broker = redis_server.url.rsplit("/", 1)[0] + "/5"  # a database of its own
    audit = tmp / "audit.jsonl"
    service = ServiceProcess(tmp, console_config(moto_server.url), env={
        "EC2_CONNECTOR_BROKER": broker, "EC2_CONNECTOR_AUDIT_FILE": str(audit),
        "EC2_CONNECTOR_LEASE_S": LEASE, "EC2_CONNECTOR_SWEEP_S": SWEEP})
    worker = Worker(broker, service.config_path, tmp / "worker.log", concurrency=4)
    browser = None
    try:
        service.start()
        browser = Browser()
        worker.wait_ready()
        yield Shared(service.url, audit, browser, images)
    finally:
        if browser is not None:
            browser.close()
        worker.stop()
        service.stop()


def test_a_job_appears_and_finishes_live_and_its_results_open(
        shared: Shared, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    shared.sign_in("ops")
    shared.driver.execute_script("window.stayed = 'no reload';")
    job_id = shared.submit("ops", {"action": "stop-instances", "instance-id": ids})
    row = f"//tbody[@id='job-rows']/tr[td/a[text()='{job_id}']]"
    shared.until(lambda d: d.find_elements(By.XPATH, row))
    shared.until(lambda d: "succeeded" in d.find_element(By.XPATH, row).text)
    assert shared.driver.execute_script("return window.stayed") == "no reload"
    news = shared.driver.find_element(By.ID, "jobs-news")  # what a screen reader is told
    assert news.get_attribute("aria-live") == "polite" and job_id[:8] in news.text
    # A redraw keeps the focus on the job it was on.
    link = shared.driver.find_element(By.XPATH, f"{row}/td/a")
    shared.driver.execute_script("arguments[0].focus()", link)
    other = shared.submit("ops", {"action": "describe-instances"})
    shared.until(lambda d: d.find_elements(By.XPATH, row.replace(job_id, other)))
    assert shared.focused().text == job_id
    # The list is redrawn every 1.5 s: a link found just before a redraw is stale.
    shared.until(lambda d: d.find_element(By.XPATH, f"{row}/td/a").click() or True)
    shared.until(lambda d: d.current_url.endswith(f"/console/jobs/{job_id}"))
    per_instance = shared.driver.find_element(By.CSS_SELECTOR, "table.items-stop-instance-list")
    assert all(i in per_instance.text for i in ids)
    assert per_instance.text.count("stopping") == 2  # each instance, per its own row
    assert "accepted as a job" in shared.driver.find_element(By.ID, "main").text  # audit
    assert states(ec2, ids) == ["stopped", "stopped"]

    fan_out = shared.submit("ops", {"action": "describe-instances",
                                    "region": "us-east-1,us-west-2"})
    shared.driver.get(f"{shared.url}/console/jobs/{fan_out}")
    shared.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.items-regions"))
    regions = shared.driver.find_element(By.CSS_SELECTOR, "table.items-regions")
    assert "per region" in regions.text
    assert "us-east-1" in regions.text and "us-west-2" in regions.text


def tab_to(shared: Shared, element_id: str, most: int = 40) -> None:
    for _ in range(most):
        shared.focused().send_keys(Keys.TAB)
        if shared.focused().get_attribute("id") == element_id:
            return
    raise AssertionError(f"#{element_id} never took the focus")


def test_keyboard_only_a_dry_run_then_a_real_stop(shared: Shared, ec2: Any,
                                                  image_id: str) -> None:
    ids = launch(ec2, image_id)
    shared.sign_in("ops")
    shared.driver.get(f"{shared.url}/console/actions/stop-instances")
    shared.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = shared.focused()
    assert skip.text == "skip to content"
    assert skip.value_of_css_property("outline-style") == "solid"  # the focus is seen
    skip.send_keys(Keys.ENTER)
    shared.until(lambda d: d.switch_to.active_element.get_attribute("id") == "main")
    tab_to(shared, "f-instance-id")
    shared.focused().send_keys(ids[0])
    tab_to(shared, "run")
    shared.focused().send_keys(Keys.ENTER)
    shared.until(lambda d: d.find_elements(By.ID, "confirm"))
    assert "it would touch" in shared.text() and ids[0] in shared.text()
    assert "exitcode 0" in shared.text()  # EC2's dry run: it would succeed
    shared.screenshot("console-dry-run-1280.png")
    assert states(ec2, ids) == ["running"]
    tab_to(shared, "confirm")
    shared.focused().send_keys(Keys.ENTER)
    shared.until(lambda d: "/console/jobs/" in d.current_url)
    shared.until(lambda d: d.find_element(By.ID, "job-status").text == "succeeded")
    assert states(ec2, ids) == ["stopped"]


def test_a_viewer_is_refused_and_nothing_is_sent(shared: Shared, ec2: Any,
                                                 image_id: str) -> None:
    ids = launch(ec2, image_id)
    shared.sign_in("viewer")
    shared.driver.get(f"{shared.url}/console/me")
    assert "viewer" in shared.text() and "its own jobs" in shared.text()
    shared.driver.get(f"{shared.url}/console/actions/stop-instances")
    shared.driver.find_element(By.ID, "f-instance-id").send_keys(ids[0])
    shared.driver.find_element(By.ID, "run").click()
    shared.until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "refused")
    assert ("forbidden: principal 'viewer' (viewer) runs read-only actions only, and "
            "'stop-instances' changes things") in shared.text()
    assert states(ec2, ids) == ["running"]
    assert audit_lines(shared)[-1]["rule"] == "role"
    # The browser's own cookie, sent without the form's CSRF token: refused, no change.
    cookie = shared.driver.get_cookie("console-session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    forged = httpx.post(f"{shared.url}/console/actions/stop-instances/run",
                        data={"connector": "aws-ec2", "p:instance-id": ids[0]},
                        headers={"Cookie": f"console-session={cookie['value']}"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert states(ec2, ids) == ["running"]


def test_no_request_leaves_the_machine_and_both_widths_fit(shared: Shared, ec2: Any,
                                                           image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    for body in ({"action": "describe-instances"},
                 {"action": "reboot-instances", "instance-id": ids}):
        shared.submit("ops", body)
    shared.sign_in("ops")
    shared.browser.requested_urls()  # drained: from here on, the console's requests only
    for path in ("/console/actions", "/console/actions/run-instances", "/console/me",
                 "/console/jobs"):
        shared.driver.get(shared.url + path)
    shared.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#job-rows tr")) >= 2)
    time.sleep(1.6)  # one poll of the live list
    urls = shared.browser.requested_urls()
    assert any(u.endswith("/console/static/console.js") for u in urls)
    assert any(u.endswith("/console/jobs.json") for u in urls)
    assert [u for u in urls if not u.startswith(shared.url + "/")] == []
    for width, height in ((1280, 800), (390, 844)):
        shared.browser.resize(width, height)
        inner = shared.driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert inner[0] <= width and inner[1] <= inner[0], inner  # no sideways scrolling
        shared.screenshot(f"console-jobs-{width}.png")
    shared.browser.resize(1280, 900)
