"""The console over plain HTTP, against a real service process and moto: its cookie, its
CSRF checks, its refusals, and hostile strings shown as text; read back with boto3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from html import escape
from typing import Any

import httpx

from ec2_connector.actions import catalog
from ec2_connector.jobs.record import JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from ec2_connector.service.console.pages import NOT_IN_FORM
from tests.conftest import launch
from tests.harness.cli import clean_env
from tests.harness.jobs import record
from tests.service.console.conftest import TOKENS, Console, audit_lines, csrf_of, states


def test_the_session_cookie_is_http_only_strict_and_holds_no_token(console: Console) -> None:
    with httpx.Client(base_url=console.url) as client:
        form = client.get("/console/sign-in")
        done = client.post("/console/sign-in", data={"csrf": csrf_of(form.text),
                                                     "token": TOKENS["ops"]})
    assert done.status_code == 303 and done.headers["location"] == "/console/jobs"
    (set_cookie,) = done.headers.get_list("set-cookie")
    name, _, rest = set_cookie.partition("=")
    value = rest.split(";")[0]
    assert name == "console-session" and len(value) >= 40
    flags = {f.strip() for f in set_cookie.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/console"} <= flags
    assert "Secure" not in flags  # plain http on loopback; https adds it
    assert TOKENS["ops"] not in set_cookie
    assert "default-src 'none'" in done.headers["content-security-policy"]


def test_not_signed_in_pages_redirect_and_the_rest_is_401(console: Console) -> None:
    with httpx.Client(base_url=console.url) as client:
        page = client.get("/console/jobs")
        assert page.status_code == 303
        assert page.headers["location"] == "/console/sign-in?next=/console/jobs"
        form = client.get(page.headers["location"])  # the sign-in goes back there
        assert 'action="/console/sign-in?next=/console/jobs"' in form.text
        assert client.get("/console/jobs.json").status_code == 401
        assert client.post("/console/actions/stop-instances/run", data={}).status_code == 401
        forged = client.get("/console/me", headers={"Cookie": "console-session=forged"})
        assert forged.status_code == 303
        form = client.get("/console/sign-in")
        wrong = client.post("/console/sign-in", data={"csrf": csrf_of(form.text),
                                                      "token": "not-a-token"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert "console-session" not in wrong.headers.get("set-cookie", "")
    # The sign-in form's own CSRF token: without its cookie's twin, refused.
    with httpx.Client(base_url=console.url, headers={"Cookie": "console-sign-in=y"}) as bare:
        assert bare.post("/console/sign-in", data={"csrf": "x", "token": TOKENS["ops"]}
                         ).status_code == 403
    with httpx.Client(base_url=console.url) as client:
        # After sign-in, only a console path of ours: never another site.
        nonce = csrf_of(client.get("/console/sign-in").text)
        sent = client.post("/console/sign-in?next=//elsewhere.example/x",
                           data={"csrf": nonce, "token": TOKENS["ops"]})
        assert sent.headers["location"] == "/console/jobs"


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
        console: Console, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id)
    with console.signed_in("ops") as client:
        csrf = csrf_of(client.get("/console/actions/stop-instances").text)
        form = {"connector": "aws-ec2", "p:instance-id": ids[0]}
        dry = client.post("/console/actions/stop-instances/run", data={"csrf": csrf, **form})
        assert dry.status_code == 200 and "it would touch" in dry.text and ids[0] in dry.text
        nonce = re.search(r'name="confirm" value="([^"]+)"', dry.text)
        assert nonce is not None
        confirmed = {**form, "confirm": nonce.group(1)}
        before = len(audit_lines(console))
        for forged in ({}, {"csrf": ""}, {"csrf": "not-the-token"}):
            refused = client.post("/console/actions/stop-instances/run",
                                  data={**confirmed, **forged})
            assert refused.status_code == 403 and "CSRF" in refused.text
        assert states(ec2, ids) == ["running"]
        assert len(audit_lines(console)) == before  # nothing reached the gate
        # Sign-out is a form too: without the token the session lives on.
        assert client.post("/console/sign-out", data={}).status_code == 403
        assert client.get("/console/me").status_code == 200
        # With the token, the confirmation runs the stop as a job, once.
        done = client.post("/console/actions/stop-instances/run",
                           data={**confirmed, "csrf": csrf})
        assert done.status_code == 303 and done.headers["location"].startswith("/console/jobs/")
        again = client.post("/console/actions/stop-instances/run",
                            data={**confirmed, "csrf": csrf})
        assert again.status_code == 403 and "used already" in again.text
        job = client.get(done.headers["location"] + ".json").json()
        assert job["action"] == "stop-instances" and job["submitted-by"] == "ops"


def test_a_confirmation_runs_only_what_the_dry_run_showed(
        console: Console, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    with console.signed_in("ops") as client:
        csrf = csrf_of(client.get("/console/actions/stop-instances").text)
        dry = client.post("/console/actions/stop-instances/run",
                          data={"csrf": csrf, "connector": "aws-ec2", "p:instance-id": ids[0]})
        nonce = re.search(r'name="confirm" value="([^"]+)"', dry.text)
        assert nonce is not None
        swapped = client.post("/console/actions/stop-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:instance-id": ids[1],
            "confirm": nonce.group(1)})
        assert swapped.status_code == 403 and "other parameters" in swapped.text
    with console.signed_in("boss") as other:  # another session cannot spend it either
        csrf = csrf_of(other.get("/console/me").text)
        stolen = other.post("/console/actions/stop-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:instance-id": ids[0],
            "confirm": nonce.group(1)})
        assert stolen.status_code == 403
    assert states(ec2, ids) == ["running", "running"]


def test_a_viewer_is_refused_a_stop_by_the_api_rule_and_nothing_is_sent(
        console: Console, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id)
    with console.signed_in("viewer") as client:
        form = client.get("/console/actions/stop-instances").text
        assert "it would be refused: forbidden: principal &#x27;viewer&#x27;" in form
        assert "it would be refused" not in client.get("/console/actions/describe-instances").text
        csrf = csrf_of(form)
        refused = client.post("/console/actions/stop-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:instance-id": ids[0]})
    assert refused.status_code == 403
    assert "forbidden: principal &#x27;viewer&#x27; (viewer) runs read-only actions only" in (
        refused.text)
    assert states(ec2, ids) == ["running"]
    line = audit_lines(console)[-1]
    assert (line["principal"], line["action"], line["rule"], line["status"]) == (
        "viewer", "stop-instances", "role", 403)


def cli_message(console: Console, *words: str) -> str:
    """The message the command line gives for the same request, with the same config."""
    done = subprocess.run([sys.executable, "-m", "ec2_connector.cli", "call", *words,
                           "--config", str(console.service.config_path)],
                          env=clean_env(console.service.home), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    return str(json.loads(done.stdout)["message"])


def test_bad_values_get_the_cli_s_line_and_nothing_runs(console: Console) -> None:
    with console.signed_in("ops") as client:
        csrf = csrf_of(client.get("/console/actions/stop-instances").text)
        bad = client.post("/console/actions/stop-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:instance-id": "i-nope"})
        missing = client.post("/console/actions/stop-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert "expected a value like &#x27;i-0123456789abcdef0&#x27;" in bad.text
    assert missing.status_code == 400 and "instance-id" in missing.text
    for page, words in ((bad, ("stop-instances", "instance-id=i-nope")),
                        (missing, ("stop-instances",))):
        line = f'<p class="error" role="alert">{escape(cli_message(console, *words))}</p>'
        assert line in page.text
    assert 'value="i-nope"' in bad.text  # the form comes back as it was filled


def test_a_secret_typed_into_a_form_is_never_sent_back(console: Console, ec2: Any,
                                                       image_id: str) -> None:
    secret = "user-data-that-must-not-come-back"
    with console.signed_in("ops") as client:
        csrf = csrf_of(client.get("/console/actions/run-instances").text)
        bad = client.post("/console/actions/run-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:image-id": "not-an-image",
            "p:user-data": secret})
        dry = client.post("/console/actions/run-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:image-id": image_id,
            "p:instance-type": "t2.micro", "p:user-data": secret})
    assert bad.status_code == 400 and "image-id" in bad.text
    assert dry.status_code == 200 and 'name="confirm"' in dry.text, dry.text
    for page in (bad.text, dry.text):
        assert secret not in page
    assert 'name="p:' not in dry.text  # the confirmation carries a nonce, not parameters
    assert ec2.describe_instances()["Reservations"] == []  # a dry run launched nothing


def test_hostile_strings_are_shown_as_text(console: Console, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id)
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    ec2.create_tags(Resources=ids, Tags=[{"Key": "Name", "Value": hostile}])
    with console.signed_in("viewer") as client:
        csrf = csrf_of(client.get("/console/actions/describe-instances").text)
        page = client.post("/console/actions/describe-instances/run", data={
            "csrf": csrf, "connector": "aws-ec2", "p:instance-id": ids[0]})
        searched = client.get("/console/jobs", params={"q": hostile})
    assert page.status_code == 200 and ids[0] in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    for text in (page.text, searched.text):
        assert "<script>alert" not in text and "<img src=x" not in text


def test_the_assets_are_our_own_files(console: Console) -> None:
    with httpx.Client(base_url=console.url) as client:
        css = client.get("/console/static/console.css")
        js = client.get("/console/static/console.js")
        assert client.get("/console/static/..%2Fapp.py").status_code == 404
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "textContent" in js.text
    assert "http" not in css.text + js.text.replace("window.location", "")


def test_resume_as_the_role_allows(console: Console, ec2: Any, image_id: str) -> None:
    """Interrupted jobs (as a lost process leaves them) in the service's own store: the
    operator resumes its stop; the viewer's stop is refused by the API's role rule."""
    ids = launch(ec2, image_id)
    store = SQLiteJobStore(console.service.home)
    for job_id, who in (("0" * 31 + "1", "ops"), ("0" * 31 + "2", "viewer")):
        store.add(record(job_id, action="stop-instances", params={"instance-id": ids},
                         status=JobStatus.INTERRUPTED, submitted_by=who, target={}))
    store.close()
    with console.signed_in("viewer") as client:
        page = client.get("/console/jobs/" + "0" * 31 + "2")
        assert page.status_code == 200 and ">resume</button>" not in page.text
        refused = client.post(f"/console/jobs/{'0' * 31}2/resume",
                              data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "runs read-only actions only" in refused.text
        line = audit_lines(console)[-1]
        assert (line["principal"], line["rule"], line["status"]) == ("viewer", "role", 403)
        hidden = client.get("/console/jobs/" + "0" * 31 + "1")  # another's job: not found
        assert hidden.status_code == 404
    with console.signed_in("ops") as client:
        page = client.get("/console/jobs/" + "0" * 31 + "1")
        assert ">resume</button>" in page.text
        assert client.post(f"/console/jobs/{'0' * 31}1/resume", data={}).status_code == 403
        resumed = client.post(f"/console/jobs/{'0' * 31}1/resume",
                              data={"csrf": csrf_of(page.text)})
        assert resumed.status_code == 303, resumed.text
        new = resumed.headers["location"] + ".json"
        deadline = time.monotonic() + 30
        while client.get(new).json()["status"] != "succeeded":
            assert time.monotonic() < deadline, client.get(new).text
            time.sleep(0.1)
        old = client.get(f"/console/jobs/{'0' * 31}1.json").json()
    assert old["status"] == "resumed" and states(ec2, ids) == ["stopped"]
    line = audit_lines(console)[-1]
    assert line["message"] == f"resumed job {'0' * 31}1" and line["principal"] == "ops"


def test_every_action_has_its_page_and_a_form_made_from_its_declaration(
        console: Console) -> None:
    with console.signed_in("viewer") as client:
        listing = client.get("/console/actions").text
        for name in catalog.names():
            assert f'href="/console/actions/{name}"' in listing, name
            page = client.get(f"/console/actions/{name}")
            assert page.status_code == 200, name
            form = page.text[page.text.index(f'action="/console/actions/{name}/run"'):]
            shown = re.findall(r'name="p:([a-z0-9-]+)"', form)
            declared = [p["name"] for p in catalog.get(name).describe()["parameters"]
                        if p["name"] not in NOT_IN_FORM]
            assert shown == declared, name
            for param in ["connector", *declared]:  # each control has its label
                assert f'<label for="f-{param}">' in form, (name, param)
            for key in catalog.get(name).fields:
                assert f'<td data-label="result field"><code>{key}</code>' in page.text
        described = client.get("/console/actions/describe-instances").text
    assert "<code>public-ip</code></td><td data-label=\"read from EC2&#x27;s output at\">" \
        "<code>PublicIpAddress</code>" in described


def test_hostile_requests_get_one_clear_answer(console: Console) -> None:
    with console.signed_in("ops") as client:
        csrf = csrf_of(client.get("/console/me").text)
        huge = client.post("/console/actions/describe-instances/run",
                           data={"csrf": csrf, "p:filters": "x" * 300_000})
        assert huge.status_code == 413 and "form over 256 KiB" in huge.text
        status = client.get("/console/jobs.json", params={"status": "nonsense"})
        assert status.status_code == 400 and "nonsense" in status.json()["message"]
        assert client.get("/console/jobs/" + "f" * 32 + ".json").status_code == 404
        assert client.get("/console/actions/no-such-action").status_code == 404
        unknown = client.post("/console/actions/describe-instances/run",
                              data={"csrf": csrf, "connector": "<b>nope</b>"})
        assert unknown.status_code == 404 and "&lt;b&gt;nope&lt;/b&gt;" in unknown.text


def test_cancel_as_the_role_allows(console: Console, ec2: Any, image_id: str) -> None:
    """Jobs in the service's own store, as a lost process or a busy pool leaves them: the
    operator cancels its interrupted stop, the admin the operator's queued one; the
    viewer sees no button and is refused by the role rule; a form needs its CSRF token."""
    ids = launch(ec2, image_id)
    lost, waiting, viewers = ("0" * 31 + n for n in "345")
    store = SQLiteJobStore(console.service.home)
    store.add(record(lost, action="stop-instances", params={"instance-id": ids},
                     status=JobStatus.INTERRUPTED, submitted_by="ops", target={}))
    store.add(record(waiting, action="stop-instances", params={"instance-id": ids},
                     submitted_by="ops", target={}))
    store.add(record(viewers, action="describe-regions", params={}, submitted_by="viewer",
                     target={}))
    store.close()
    with console.signed_in("viewer") as client:
        page = client.get(f"/console/jobs/{viewers}")
        assert page.status_code == 200 and ">cancel</button>" not in page.text
        refused = client.post(f"/console/jobs/{viewers}/cancel",
                              data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "may not cancel jobs" in refused.text
        line = audit_lines(console)[-1]
        assert (line["principal"], line["rule"], line["status"]) == ("viewer", "role", 403)
        hidden = client.post(f"/console/jobs/{lost}/cancel", data={"csrf": csrf_of(page.text)})
        assert hidden.status_code == 404  # another's job: not found
    with console.signed_in("ops") as client:
        page = client.get(f"/console/jobs/{lost}")
        assert ">cancel</button>" in page.text and f"/console/jobs/{lost}/cancel" in page.text
        for forged in ({}, {"csrf": "not-the-token"}):
            assert client.post(f"/console/jobs/{lost}/cancel", data=forged).status_code == 403
        assert client.get(f"/console/jobs/{lost}.json").json()["status"] == "interrupted"
        done = client.post(f"/console/jobs/{lost}/cancel", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == f"/console/jobs/{lost}"
        shown = client.get(done.headers["location"])
        assert 'class="status s-cancelled"' in shown.text and ">cancel</button>" not in shown.text
        assert ">resume</button>" not in shown.text  # never run again
        again = client.post(f"/console/jobs/{lost}/cancel", data={"csrf": csrf_of(page.text)})
        assert again.status_code == 409 and "is cancelled" in again.text
    with console.signed_in("boss") as client:
        page = client.get(f"/console/jobs/{waiting}")
        assert ">cancel</button>" in page.text
        done = client.post(f"/console/jobs/{waiting}/cancel",
                           data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303
        job = client.get(f"/console/jobs/{waiting}.json").json()
    assert job["status"] == "cancelled" and states(ec2, ids) == ["running"]
    assert "cancelled by boss before it started" in job["message"]
    line = audit_lines(console)[-1]
    assert (line["principal"], line["status"]) == ("boss", 200)
    assert line["message"] == f"cancelled job {waiting} (cancelled)"


def test_sign_ins_are_audited_and_wrong_tokens_are_limited(
    moto_server: Any, tmp_path: Any
) -> None:
    """Its own service: the limit it sets on this address must not lock out other tests."""
    from ec2_connector.service.console.sessions import SIGN_IN_FAILURES, SIGN_IN_WINDOW_S
    from tests.harness.service import ServiceProcess
    from tests.service.console.conftest import console_config

    audit = tmp_path / "audit.jsonl"
    with ServiceProcess(tmp_path, console_config(moto_server.url),
                        env={"EC2_CONNECTOR_AUDIT_FILE": str(audit)}) as service, \
            httpx.Client(base_url=service.url, timeout=30) as client:

        def attempt(token: str) -> httpx.Response:
            nonce = csrf_of(client.get("/console/sign-in").text)
            return client.post("/console/sign-in", data={"csrf": nonce, "token": token})

        assert attempt(TOKENS["ops"]).status_code == 303
        for n in range(SIGN_IN_FAILURES):
            assert attempt(f"guess-{n}").status_code == 401
        refused = attempt(TOKENS["ops"])  # even the right token waits now
        assert refused.status_code == 429 and "too many wrong tokens" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= SIGN_IN_WINDOW_S
        assert "console-session" not in refused.headers.get("set-cookie", "")
    text = audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    signs = [line for line in lines if line["action"] == "console-sign-in"]
    assert [line["status"] for line in signs] == [303] + [401] * SIGN_IN_FAILURES + [429]
    assert (signs[0]["principal"], signs[0]["exitcode"], signs[0]["client"]) == (
        "ops", 0, "127.0.0.1")
    assert all(line["exitcode"] == 5 and line["principal"] == "" for line in signs[1:])
    assert TOKENS["ops"] not in text and "guess-" not in text
