"""Schemathesis hooks: what the document states that a JSON Schema generator cannot read.

Loaded by tests/conformance/schemathesis.sh through SCHEMATHESIS_HOOKS. The edits touch only
bodies schemathesis generated *valid* (which its `positive_data_acceptance` check expects the
server to accept); invalid bodies are sent exactly as generated. None of them hides a response
from a check: they make the valid bodies as valid as the document says a valid request is, where
JSON Schema cannot say it.

- `x-max-combined-items` (ExportAsset, DeleteAsset: apps + tasks together at most 100, the seed's "A maximum
  of 100 applications and tasks"): OpenAPI 3.0 has no keyword for a limit over two arrays, so the
  document states it as an extension that the server enforces (400 ROMA.13000). A positive body
  over the limit is trimmed to it, reading the limit from the document, not from this file.
- ImportAsset's file part must be a package (a zip of this project's format, DOMAIN.md) whose
  name ends in `.zip`; `format: binary` cannot say that. Positive cases upload a real package,
  obtained once from the server under test (export of the demo apps, then download); schemathesis
  names a part whose bytes are a zip `ImportAssetRequestBody.zip` by itself.
- ImportAsset's form is open (extra fields allowed), but schemathesis writes an extra field's name
  raw into its part's Content-Disposition header: a name with a control character, `"` or `\`
  makes the body unparseable multipart (RFC 7578 4.2, RFC 9110 5.5), a malformed request the
  server rightly refuses (400). Such fields are dropped from positive cases; a schemathesis
  serialization limit, not a property of the API.
- One running asset job per project (ROMA.10012, 400 as the service's catalogue has it): a client
  must wait for its job to end before it creates the next one, so before every
  ExportAsset/ImportAsset/DeleteAsset the hook waits (at most 30 s) for the jobs this run created
  in that project. The run uses one worker so that no two requests race.
- The package for positive imports is fetched before the first call of the run, while the demo
  instance is as seeded: a DeleteAsset the stateful phase links to an export may delete the demo
  apps later on.

Environment: ROMA_BASE_URL, ROMA_TOKEN (project `demo`), ROMA_OPENAPI (the document's path).
"""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests
import schemathesis
import yaml
from schemathesis.core.parameters import ParameterLocation
from schemathesis.transport.serialization import Binary

BASE_URL = os.environ["ROMA_BASE_URL"]
TOKEN = os.environ["ROMA_TOKEN"]
DOCUMENT = yaml.safe_load(Path(os.environ["ROMA_OPENAPI"]).read_text(encoding="utf-8"))
HEADERS = {"X-Auth-Token": TOKEN}
JOB_WAIT_SECONDS = 30.0
# The operations that start an asset job (one running per project).
JOB_OPERATIONS = ("ExportAsset", "ImportAsset", "DeleteAsset")

# (instance, job id) of the jobs this run created that may still run, by project.
_jobs: dict[str, list[tuple[str, str]]] = {}
_package: bytes | None = None


def _deref(node: Any) -> Any:
    """Follows local `$ref`s of the document."""
    for _ in range(16):
        if not (isinstance(node, dict) and "$ref" in node):
            return node
        target: Any = DOCUMENT
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    raise ValueError("$ref chain too long")


def _operation_id(case: Any) -> str | None:
    path_item = (DOCUMENT.get("paths") or {}).get(case.operation.path) or {}
    return (path_item.get(case.operation.method.lower()) or {}).get("operationId")


def _body_is_positive(case: Any) -> bool:
    """Whether the body was generated valid. The body's own mode, not the case's: in the stateful
    phase a link may overwrite a case's invalid path parameter after this hook ran, and
    schemathesis then re-judges the whole case positive."""
    meta = getattr(case, "_meta", None)
    if meta is None:
        return False
    info = meta.components.get(ParameterLocation.BODY)
    if info is None:  # a body taken from the document's examples, not generated
        return meta.generation.mode.is_positive
    return info.mode.is_positive


def _combined_limit(case: Any) -> dict | None:
    path_item = DOCUMENT["paths"].get(case.operation.path) or {}
    op = path_item.get(case.operation.method.lower()) or {}
    media = ((_deref(op.get("requestBody")) or {}).get("content") or {}).get("application/json")
    if not media:
        return None
    return _deref(media.get("schema") or {}).get("x-max-combined-items")


def _trim_to_combined_limit(case: Any, limit: dict) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    names = [n for n in limit["properties"] if isinstance(body.get(n), list)]
    total = sum(len(body[n]) for n in names)
    excess = total - limit["max"]
    if excess <= 0:
        return
    body = dict(body)
    for name in reversed(names):  # trim the last arrays first: tasks before apps
        cut = min(excess, len(body[name]))
        body[name] = body[name][: len(body[name]) - cut]
        excess -= cut
    case.body = body


def _unsendable_field_name(name: str) -> bool:
    return any(ord(c) < 0x20 or c in '\x7f"\\' for c in name)


def _wait_for_jobs(project: str) -> None:
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    for instance, job in _jobs.pop(project, []):
        p, i, j = (urllib.parse.quote(x, safe="") for x in (project, instance, job))
        url = f"{BASE_URL}/v2/{p}/instances/{i}/assets/jobs/{j}"
        while time.monotonic() < deadline:
            answer = requests.get(url, headers=HEADERS, timeout=10)
            if answer.status_code != 200 or answer.json().get("status") != "RUNNING":
                break
            time.sleep(0.02)


def _demo_package() -> bytes:
    """A real package: the demo instance's apps exported and downloaded, once per run."""
    global _package
    if _package is None:
        base = f"{BASE_URL}/v2/demo/instances/demo"
        apps = requests.get(f"{base}/apps", headers=HEADERS, timeout=10).json()["apps"]
        _wait_for_jobs("demo")
        created = requests.post(
            f"{base}/assets/export",
            json={"apps": [{"id": a["id"]} for a in apps[:2]]},
            headers=HEADERS,
            timeout=10,
        )
        created.raise_for_status()
        job = created.json()["job_id"]
        deadline = time.monotonic() + JOB_WAIT_SECONDS
        while True:
            status = requests.get(f"{base}/assets/jobs/{job}", headers=HEADERS, timeout=10).json()
            if status["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if status["status"] != "SUCCEEDED":
            raise RuntimeError(f"exporting the demo package failed: {status}")
        archive = requests.get(
            f"{base}/assets/archives/{status['archive_id']}", headers=HEADERS, timeout=30
        )
        archive.raise_for_status()
        _package = archive.content
    return _package


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    _demo_package()
    operation_id = _operation_id(case)
    if operation_id not in JOB_OPERATIONS:
        return
    # Every case waits, since any of them may turn out positive (see _body_is_positive).
    _wait_for_jobs(str((case.path_parameters or {}).get("project_id", "")))
    if not _body_is_positive(case):
        return
    limit = _combined_limit(case)
    if limit:
        _trim_to_combined_limit(case, limit)
    if operation_id == "ImportAsset" and isinstance(case.body, dict):
        # Binary: how schemathesis itself holds a `format: binary` value.
        case.body["ImportAssetRequestBody"] = Binary(_demo_package())
        # Extra form fields are allowed (the schema is open), but schemathesis writes their names
        # raw into the part's Content-Disposition header; one with a control character, `"` or
        # `\` is no longer a parseable multipart body (RFC 7578 4.2, RFC 9110 5.5), so the
        # server's 400 is right and the case was never a valid request. Such fields are dropped.
        for name in [n for n in case.body if _unsendable_field_name(n)]:
            del case.body[name]
        # Edited in place, then taken as the body's baseline: schemathesis re-judges an edited
        # body, but cannot judge binary content and would relabel the case negative (4.32.5,
        # `Case._validate_component`). Both edits keep the body exactly as valid as generated.
        # Only the body's baseline moves: edits to other parts are still re-judged.
        if ParameterLocation.BODY in case._meta.components:
            case._meta.update_validated_hash(
                ParameterLocation.BODY, case._hash_container(case.body)
            )


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if _operation_id(case) not in JOB_OPERATIONS or response.status_code != 200:
        return
    try:
        job = response.json()["job_id"]
    except Exception:  # a malformed answer is for the checks to report, not for this hook
        return
    params = case.path_parameters or {}
    project, instance = str(params.get("project_id", "")), str(params.get("instance_id", ""))
    _jobs.setdefault(project, []).append((instance, job))
