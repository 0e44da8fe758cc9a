#!/usr/bin/env python3
"""A client nobody here wrote: openapi-generator's Python client, generated from
openapi/roma-assets.yaml, exports and imports against the reference server.

Generates the client into target/conformance/python-client with the `openapi-generator-cli` of
this Python environment (the PyPI package, which ships the generator's jar; it runs on the
machine's Java), imports it from there, and drives a running server (ROMA_BASE_URL, ROMA_TOKEN
opening project `demo`, seeded with --demo):

  list the demo apps -> export an app and a task -> poll the job until SUCCEEDED -> download the
  package -> import it into another instance with a prefix -> poll until SUCCEEDED -> the
  listings of that instance show exactly the package's assets under their prefixed names;
  then the documented refusals as the generated client types them: a second download is 404
  ROMA.10021, another project is 403 ROMA.1006, importing the same package again with AddNew
  ends FAILED with one ROMA.10040 reason per name.

Everything the client sends and parses is generated from the document: a mismatch between the
document and the server shows up here as a pydantic validation error or an unexpected status.
Prints one line per step and a closing `N passed, N failed` line; exits 1 on any failure.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "roma-assets.yaml"
OUT = ROOT / "target" / "conformance" / "python-client"
PACKAGE = "roma_client"
# A new instance per run, so that a rerun against the same server starts from an empty one.
PROJECT, SOURCE, TARGET = "demo", "demo", f"conformance-{int(time.time())}"
PREFIX = "gen_"


def generate() -> None:
    """Runs openapi-generator (python) on the document, into OUT."""
    generator = Path(sys.executable).parent / "openapi-generator-cli"
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--input-spec", str(DOCUMENT),
            "--generator-name", "python",
            "--output", str(OUT),
            "--package-name", PACKAGE,
            "--additional-properties", "projectName=roma-client",
            # Only the package: no generated tests or docs.
            "--global-property", "apiTests=false,modelTests=false,apiDocs=false,modelDocs=false",
        ],
        capture_output=True,
        text=True,
    )
    (OUT.parent / "python-client-generate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"openapi-generator failed (exit {result.returncode})")
    version = subprocess.run([str(generator), "version"], capture_output=True, text=True).stdout.strip()
    print(f"generated {PACKAGE} with openapi-generator {version} in {time.monotonic() - started:.1f}s")


class Steps:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        try:
            value = step()
        except Exception:  # a failed step is reported with its cause, then the run stops
            self.failed += 1
            print(f"FAIL  {name}")
            for line in traceback.format_exc().rstrip().splitlines():
                print(f"        {line}")
            raise _Stop() from None
        self.passed += 1
        print(f"ok    {name}")
        sys.stdout.flush()
        return value


class _Stop(Exception):
    pass


def main() -> int:
    base_url = os.environ["ROMA_BASE_URL"]
    token = os.environ["ROMA_TOKEN"]
    generate()
    sys.path.insert(0, str(OUT))
    import roma_client  # noqa: PLC0415 - generated just above
    from roma_client.exceptions import ApiException, ForbiddenException, NotFoundException  # noqa: PLC0415

    config = roma_client.Configuration(host=base_url, api_key={"token": token})
    client = roma_client.ApiClient(config)
    assets = roma_client.InstanceAssetsApi(client)
    transfer = roma_client.AssetImportAndExportApi(client)
    jobs = roma_client.AssetJobsApi(client)
    steps = Steps()

    def wait(instance: str, job_id: str) -> Any:
        deadline = time.monotonic() + 30
        while True:
            status = jobs.check_asset_job_status(PROJECT, instance, job_id)
            if status.status != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still RUNNING after 30 s")
            time.sleep(0.05)

    def error_body(e: ApiException) -> dict:
        body = json.loads(e.body)
        assert body["request_id"] == e.headers["X-Request-Id"], (body, dict(e.headers))
        return body

    try:
        apps = steps.run(
            "ListApps: the demo instance's apps",
            lambda: {a.id: a.name for a in assets.list_apps(PROJECT, SOURCE).apps},
        )
        assert "demo-app-orders" in apps, apps

        def export() -> str:
            request = roma_client.AssetExportRequest(
                apps=[roma_client.AssetExportRequestApps(id="demo-app-orders")],
                tasks=[roma_client.AssetExportRequestTasks(id="demo-task-crm-contacts")],
            )
            job_id = transfer.export_asset(PROJECT, SOURCE, request).job_id
            assert job_id, "no job_id"
            return job_id

        export_job = steps.run("ExportAsset: an app and a task", export)

        def exported() -> str:
            status = wait(SOURCE, export_job)
            assert status.status == "SUCCEEDED", status
            assert status.type == "exportAsset", status
            assert status.archive_id, status
            assert status.end_time is not None, status
            return status.archive_id

        archive_id = steps.run("CheckAssetJobStatus: the export SUCCEEDED with an archive_id", exported)

        def download() -> bytes:
            data = bytes(jobs.download_asset_archive(PROJECT, SOURCE, archive_id))
            assert data[:4] == b"PK\x03\x04", data[:16]
            return data

        package = steps.run("DownloadAssetArchive: a zip", download)
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(package)).read("manifest.json"))
        expected_apps = sorted(PREFIX + a["name"] for a in manifest["apps"])
        expected_tasks = sorted(PREFIX + t["name"] for t in manifest["tasks"])
        assert PREFIX + "orders" in expected_apps and PREFIX + "crm-contacts" in expected_tasks, manifest

        def second_download() -> None:
            try:
                jobs.download_asset_archive(PROJECT, SOURCE, archive_id)
            except NotFoundException as e:
                assert error_body(e)["error_code"] == "ROMA.10021", e.body
                return
            raise AssertionError("a second download succeeded")

        steps.run("DownloadAssetArchive again: 404 ROMA.10021 (one download)", second_download)

        def import_package() -> str:
            job_id = transfer.import_asset(
                PROJECT,
                TARGET,
                ("orders.zip", package),
                mode=roma_client.ImportAssetMode.ADDNEW,
                prefix=PREFIX,
            ).job_id
            assert job_id, "no job_id"
            return job_id

        import_job = steps.run(f"ImportAsset: into instance {TARGET} with prefix {PREFIX}", import_package)

        def imported() -> None:
            status = wait(TARGET, import_job)
            assert status.status == "SUCCEEDED", status
            assert status.type == "importAsset", status

        steps.run("CheckAssetJobStatus: the import SUCCEEDED", imported)

        def listings() -> None:
            found_apps = sorted(a.name for a in assets.list_apps(PROJECT, TARGET).apps)
            found_tasks = sorted(t.task_name for t in assets.list_tasks(PROJECT, TARGET).entities)
            assert found_apps == expected_apps, (found_apps, expected_apps)
            assert found_tasks == expected_tasks, (found_tasks, expected_tasks)

        steps.run(f"ListApps/ListTasks: {expected_apps + expected_tasks} in {TARGET}", listings)

        def conflict() -> None:
            job_id = transfer.import_asset(PROJECT, TARGET, ("orders.zip", package), prefix=PREFIX).job_id
            status = wait(TARGET, job_id)
            assert status.status == "FAILED", status
            codes = sorted({r.error_code for r in status.reasons})
            names = sorted(r.resource_name for r in status.reasons)
            assert codes == ["ROMA.10040"], status
            assert names == sorted(expected_apps + expected_tasks), (names, status)

        steps.run("ImportAsset again (AddNew, mode defaulted): FAILED, ROMA.10040 per name", conflict)

        def forbidden() -> None:
            try:
                assets.list_apps("another-project", SOURCE)
            except ForbiddenException as e:
                assert error_body(e)["error_code"] == "ROMA.1006", e.body
                return
            raise AssertionError("another project's listing succeeded")

        steps.run("ListApps of another project: 403 ROMA.1006", forbidden)
    except _Stop:
        pass
    print(f"{steps.passed} passed, {steps.failed} failed")
    return 1 if steps.failed else 0


if __name__ == "__main__":
    sys.exit(main())
