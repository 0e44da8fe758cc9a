#!/usr/bin/env python3
"""A client nobody here wrote or can change: the official Huawei Cloud Python SDK
(huaweicloudsdkroma + huaweicloudsdkcore, pinned in tests/conformance/sdk-requirements.txt),
unmodified, authenticating with AK/SK only, drives the reference server:

  1. ListRomaApp and ListTasks list the source instance's apps and tasks; ExportAsset exports them
     all -> a job id
  2. CheckAssetJobStatus until the export SUCCEEDED -> its archive_id
  3. DownloadAssetArchive, read through consume_download_stream into a file -> a zip
  4. ImportAsset of that file (multipart part `ImportAssetRequestBody`) into another instance of
     the project (a new one per run, which the server creates on import) -> CheckAssetJobStatus
     until the import SUCCEEDED
  5. ListRomaApp of that instance shows exactly the exported apps' names
  6. ListRomaApp and CheckRomaAppDetails decode every field of ServerAppInfo
  7. ListTasks (FDI path) decodes every field of BriefTaskRespBean; its `name` filter works
  8. DeleteAsset of that instance's apps and tasks, CheckAssetJobStatus until SUCCEEDED
     (type deleteAsset), then the instance is empty
  9. a client whose SK is wrong: ClientRequestException, 401, with error_code and request_id
 10. a request signed 20 minutes ago (X-Sdk-Date): ClientRequestException, 401, with error_code
     and request_id; the same call signed now succeeds
 11. CheckRomaInstanceListV2 lists the source instance, RUNNING

Nothing is patched, hooked or added on the wire: the SDK builds, signs and sends every request
and parses every answer (errors through its own DefaultExceptionHandler). The one exception is
step 7's clock, explained there: it changes the time the signer reads, not what it does.

Configuration (the SDK's own variable names for the credential):
  ROMA_ENDPOINT               the server, e.g. http://127.0.0.1:8080 (or --endpoint; falls back to
                              ROMA_BASE_URL, which tests/conformance/run.sh exports)
  HUAWEICLOUD_SDK_PROJECT_ID  the project the AK/SK opens (or --project-id; default `demo`)
  HUAWEICLOUD_SDK_AK          access key
  HUAWEICLOUD_SDK_SK          secret key (environment only: a command line shows in ps)
  ROMA_SOURCE_INSTANCE        the instance to export from (or --source; default `demo`)
--insecure skips TLS verification, for an https endpoint with a self-signed certificate only.

The SDK writes ~/.huaweicloud/application_id the first time it builds a client (and would read
~/.huaweicloud/credentials, and requests ~/.netrc): HOME is pointed at a temporary directory before
the SDK is imported, so that the run leaves nothing in the real home and reads nothing from it.

Prints one line per step (`ok <step>` / `FAIL <step>: <why>`) and a closing `N passed, N failed`
line; exits 1 on any failure. Steps 1-8 are a chain: after a failure the rest of it is reported as
skipped (not counted); steps 9 to 11 always run.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

POLL_SECONDS = 60
STALE_BY = datetime.timedelta(minutes=20)
# A new instance per run, so that a rerun against the same server imports into an empty one.
TARGET = f"sdk-{int(time.time())}"

# Before any SDK import (see the docstring): a home of our own for the SDK's files.
_HOME = tempfile.mkdtemp(prefix="sdk-walk-home-")
os.environ["HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, True)
os.environ.pop("HUAWEICLOUD_SDK_CREDENTIALS_FILE", None)

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.http.formdata import FormFile  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
import huaweicloudsdkcore.signer.signer as sdk_signer  # noqa: E402
from huaweicloudsdkroma.v2 import (  # noqa: E402
    AssetExportRequest,
    AssetExportRequestApps,
    AssetExportRequestTasks,
    AssetOperateRequest,
    CheckAssetJobStatusRequest,
    CheckRomaAppDetailsRequest,
    CheckRomaInstanceListV2Request,
    DeleteAssetRequest,
    DownloadAssetArchiveRequest,
    ExportAssetRequest,
    ImportAssetRequest,
    ImportAssetRequestBody,
    ListRomaAppRequest,
    ListTasksRequest,
    RomaClient,
)

# The fields the reference pages give each model; the server must fill every one, so that an SDK
# user sees real values, not None.
APP_FIELDS = ["id", "name", "remark", "roles", "create_time", "update_time", "created_user",
              "last_updated_user", "owner", "key", "favorite"]
TASK_FIELDS = ["task_id", "task_name", "task_type", "status", "created_date", "version",
               "last_modified_time", "execute_status", "source_app_id", "target_app_id",
               "source_instance_id", "target_instance_id", "enterprise_project_id"]


def filled(model: Any, fields: list[str]) -> None:
    missing = [f for f in fields if getattr(model, f) is None]
    assert not missing, f"{type(model).__name__} decoded without {missing}: {model}"


class Steps:
    """Runs and counts steps; a failed step prints why and stops the chain it is in."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        try:
            value = step()
        except Exception as e:  # reported with its cause; the caller decides what still runs
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if not isinstance(e, AssertionError):
                for line in traceback.format_exc().rstrip().splitlines():
                    print(f"       {line}")
            sys.stdout.flush()
            raise _Stop() from None
        self.passed += 1
        print(f"ok {name}")
        sys.stdout.flush()
        return value


class _Stop(Exception):
    pass


def build_client(endpoint: str, project_id: str, ak: str, sk: str, insecure: bool) -> RomaClient:
    """A RomaClient on `endpoint` (no region: a local server is not one of the SDK's regions,
    and with_region would also ask IAM for a project id the credential already names)."""
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = insecure
    config.timeout = (10, 60)  # a server that hangs fails the step instead of waiting 2 minutes
    return (
        RomaClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(ak, sk, project_id))
        .with_endpoints([endpoint])
        .build()
    )


def expect_401(call: Callable[[], Any]) -> ClientRequestException:
    """Runs `call`, which must raise the SDK's ClientRequestException for a 401 whose error_code
    came from the answer's body (the SDK falls back to the status, "401", when there is none)
    and whose request_id came from X-Request-Id."""
    try:
        answer = call()
    except ClientRequestException as e:
        assert e.status_code == 401, f"status {e.status_code}, expected 401: {e}"
        assert e.error_code and e.error_code != str(e.status_code), f"no error_code in the body: {e}"
        assert e.error_msg, f"no error_msg: {e}"
        assert e.request_id, f"no request_id (X-Request-Id): {e}"
        return e
    raise AssertionError(f"the call succeeded: {answer}")


def detail(e: ClientRequestException) -> None:
    """Shows what the SDK made of a refusal, under its step's line."""
    print(f"     {e.error_code}: {e.error_msg} (request_id {e.request_id})")


class _StaleDatetime(datetime.datetime):
    """datetime, whose utcnow() is STALE_BY in the past."""

    @classmethod
    def utcnow(cls) -> datetime.datetime:  # type: ignore[override]
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - STALE_BY


def signed_in_the_past(call: Callable[[], Any]) -> Any:
    """Runs `call` with the SDK's signer reading a clock STALE_BY behind.

    The SDK has no setting for the signing time: Signer._process_header_time takes
    `datetime.utcnow()` (the name `datetime` of module huaweicloudsdkcore.signer.signer) and
    writes it into X-Sdk-Date, which the signature covers. Rebinding that one name for the length
    of one call is the smallest honest way to get a correctly signed request from another time,
    as a client whose clock is wrong would send it: the signer, the request and the wire format are
    the SDK's own, only the time it reads differs. This tests the server's clock-skew check; it is
    not a patch of the SDK's behaviour. The signer runs on the SDK's executor thread, which sees
    the rebinding too (a module attribute); nothing else signs while the call runs.
    """
    real = sdk_signer.datetime
    sdk_signer.datetime = _StaleDatetime
    try:
        return call()
    finally:
        sdk_signer.datetime = real


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("ROMA_ENDPOINT") or os.environ.get("ROMA_BASE_URL"))
    parser.add_argument("--project-id", default=os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID") or "demo")
    parser.add_argument("--source", default=os.environ.get("ROMA_SOURCE_INSTANCE") or "demo")
    parser.add_argument("--insecure", action="store_true", help="skip TLS verification (https only)")
    args = parser.parse_args()
    ak, sk = os.environ.get("HUAWEICLOUD_SDK_AK"), os.environ.get("HUAWEICLOUD_SDK_SK")
    if not args.endpoint or not ak or not sk:
        parser.error("needs ROMA_ENDPOINT (or --endpoint), HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK")
    endpoint = args.endpoint.rstrip("/")
    # A proxy from the environment must not carry a loopback endpoint's requests elsewhere.
    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        for name in ("NO_PROXY", "no_proxy"):
            os.environ[name] = ",".join(filter(None, [os.environ.get(name), host]))

    project, source = args.project_id, args.source
    client = build_client(endpoint, project, ak, sk, args.insecure)
    work = Path(tempfile.mkdtemp(prefix="sdk-walk-"))
    steps = Steps()
    print(f"huaweicloudsdkroma against {endpoint}: project {project}, {source} -> {TARGET}")

    def wait(instance: str, job_id: str, kind: str) -> Any:
        """Polls CheckAssetJobStatus until the job is no longer RUNNING; it must have SUCCEEDED."""
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            status = client.check_asset_job_status(CheckAssetJobStatusRequest(instance_id=instance, job_id=job_id))
            assert status.status_code == 200, status.status_code
            if status.status != "RUNNING":
                break
            assert time.monotonic() < deadline, f"job {job_id} still RUNNING after {POLL_SECONDS} s"
            time.sleep(0.1)
        assert status.id == job_id, (status.id, job_id)
        assert status.type == kind, status
        assert status.status == "SUCCEEDED", status
        assert status.end_time, status
        return status

    def app_names(instance: str) -> dict[str, str]:
        answer = client.list_roma_app(ListRomaAppRequest(instance_id=instance, offset=0, limit=100))
        assert answer.status_code == 200, answer.status_code
        apps = answer.apps or []
        assert answer.size == len(apps) and answer.total == len(apps), (answer.total, answer.size, len(apps))
        return {a.id: a.name for a in apps}

    try:
        try:
            source_apps: dict[str, str] = {}

            def export() -> str:
                source_apps.update(app_names(source))
                assert source_apps, f"instance {source} has no apps (was the server started with --demo?)"
                # The tasks go along, so that step 7 finds tasks in the target.
                listed = client.list_tasks(ListTasksRequest(instance_id=source, limit=100))
                assert listed.status_code == 200, listed.status_code
                task_ids = [t.task_id for t in listed.entities or []]
                assert task_ids, f"instance {source} has no tasks"
                body = AssetExportRequest(
                    apps=[AssetExportRequestApps(id=i) for i in source_apps],
                    tasks=[AssetExportRequestTasks(id=i) for i in task_ids],
                )
                answer = client.export_asset(ExportAssetRequest(instance_id=source, body=body))
                assert answer.status_code == 200, answer.status_code
                assert answer.job_id, f"no job_id: {answer}"
                return answer.job_id

            export_job = steps.run(f"1 ListRomaApp + ListTasks + ExportAsset: the apps and tasks of {source}", export)

            def exported() -> str:
                status = wait(source, export_job, "exportAsset")
                assert status.archive_id, f"no archive_id: {status}"
                return status.archive_id

            archive_id = steps.run("2 CheckAssetJobStatus: the export SUCCEEDED with an archive_id", exported)
            package = work / "sdk-walk.zip"  # the name the import's part gets: ROMA.10013's rule

            def download() -> None:
                answer = client.download_asset_archive(
                    DownloadAssetArchiveRequest(instance_id=source, archive_id=archive_id)
                )
                assert answer.status_code == 200, answer.status_code

                def save(response: Any) -> None:  # a requests.Response, opened with stream=True
                    with response, package.open("wb") as out:
                        for chunk in response.iter_content(chunk_size=64 * 1024):
                            out.write(chunk)

                answer.consume_download_stream(save)
                data = package.read_bytes()
                assert data[:4] == b"PK\x03\x04", data[:16]
                with zipfile.ZipFile(package) as z:
                    assert z.testzip() is None, "a corrupt entry"
                    assert z.namelist(), "an empty zip"

            steps.run("3 DownloadAssetArchive: consume_download_stream writes a zip", download)

            def import_package() -> str:
                body = ImportAssetRequestBody(import_asset_request_body=FormFile(str(package)))
                answer = client.import_asset(ImportAssetRequest(instance_id=TARGET, body=body))
                assert answer.status_code == 200, answer.status_code
                assert answer.job_id, f"no job_id: {answer}"
                wait(TARGET, answer.job_id, "importAsset")
                return answer.job_id

            steps.run(f"4 ImportAsset + CheckAssetJobStatus: into {TARGET}, SUCCEEDED", import_package)

            def listed() -> None:
                found = sorted(app_names(TARGET).values())
                assert found == sorted(source_apps.values()), (found, sorted(source_apps.values()))

            steps.run(f"5 ListRomaApp: {sorted(source_apps.values())} in {TARGET}", listed)

            def app_details() -> None:
                listing = client.list_roma_app(ListRomaAppRequest(instance_id=source, limit=100))
                for app in listing.apps:
                    filled(app, APP_FIELDS)
                    assert app.created_user.user_name and app.last_updated_user.user_id, app
                first = listing.apps[0]
                details = client.check_roma_app_details(
                    CheckRomaAppDetailsRequest(instance_id=source, app_id=first.id)
                )
                assert details.status_code == 200, details.status_code
                filled(details, APP_FIELDS)
                assert (details.name, details.key, details.roles) == (first.name, first.key, first.roles)

            steps.run("6 ListRomaApp + CheckRomaAppDetails: every ServerAppInfo field decodes", app_details)
            target_tasks: list[str] = []

            def tasks() -> None:
                answer = client.list_tasks(ListTasksRequest(instance_id=TARGET, limit=100))
                assert answer.status_code == 200, answer.status_code
                assert answer.total == answer.size == len(answer.entities or []) > 0, answer
                for task in answer.entities:
                    filled(task, TASK_FIELDS)
                    assert task.task_type in ("REALTIME", "TIMING"), task.task_type
                    assert task.source_instance_id == TARGET, task.source_instance_id
                target_tasks.extend(t.task_id for t in answer.entities)
                # The SDK's `name` filter (the page's task_name) reaches the server.
                name = answer.entities[0].task_name
                named = client.list_tasks(ListTasksRequest(instance_id=TARGET, name=name))
                assert [t.task_name for t in named.entities] == [name], named

            steps.run(f"7 ListTasks (FDI): BriefTaskRespBean decodes for the tasks of {TARGET}", tasks)

            def delete() -> None:
                apps = list(app_names(TARGET))
                body = AssetOperateRequest(
                    apps=[AssetExportRequestApps(id=i) for i in apps],
                    tasks=[AssetExportRequestTasks(id=i) for i in target_tasks],
                )
                answer = client.delete_asset(DeleteAssetRequest(instance_id=TARGET, body=body))
                assert answer.status_code == 200, answer.status_code
                assert answer.job_id, f"no job_id: {answer}"
                wait(TARGET, answer.job_id, "deleteAsset")
                assert app_names(TARGET) == {}, "the apps are still there"
                left = client.list_tasks(ListTasksRequest(instance_id=TARGET))
                assert left.total == 0, left

            steps.run(f"8 DeleteAsset + CheckAssetJobStatus: every app and task of {TARGET} deleted", delete)
        except _Stop:
            print("skip the rest of steps 1-8")

        def wrong_sk() -> ClientRequestException:
            bad = build_client(endpoint, project, ak, sk + "x", args.insecure)
            try:
                return expect_401(lambda: bad.list_roma_app(ListRomaAppRequest(instance_id=source)))
            finally:
                bad.close()

        try:
            detail(steps.run("9 a wrong SK: ClientRequestException 401 with error_code and request_id", wrong_sk))
        except _Stop:
            pass

        def stale_date() -> ClientRequestException:
            call = lambda: client.list_roma_app(ListRomaAppRequest(instance_id=source))  # noqa: E731
            e = expect_401(lambda: signed_in_the_past(call))
            assert call().status_code == 200, "the same call signed now"
            return e

        try:
            detail(steps.run(
                f"10 X-Sdk-Date {int(STALE_BY.total_seconds()) // 60} min old: ClientRequestException 401"
                " with error_code and request_id (signed now: 200)",
                stale_date,
            ))
        except _Stop:
            pass

        def instances() -> None:
            answer = client.check_roma_instance_list_v2(CheckRomaInstanceListV2Request(limit=100))
            assert answer.status_code == 200, answer.status_code
            ids = [i.id for i in answer.instances or []]
            assert source in ids, ids
            listed = next(i for i in answer.instances if i.id == source)
            for field in ("name", "status", "project_id", "create_time", "update_time", "cpu_arch"):
                assert getattr(listed, field) is not None, f"instance decoded without {field}: {listed}"
            assert listed.status == "RUNNING" and listed.project_id == project, listed

        try:
            steps.run(f"11 CheckRomaInstanceListV2: {source} is listed, RUNNING", instances)
        except _Stop:
            pass
    finally:
        client.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{steps.passed} passed, {steps.failed} failed")
    return 1 if steps.failed else 0


if __name__ == "__main__":
    sys.exit(main())
