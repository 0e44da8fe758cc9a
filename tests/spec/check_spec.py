#!/usr/bin/env python3
"""Checks on the OpenAPI documents that the Rust build cannot make by itself.

- Both documents (openapi/roma-assets.yaml, tests/fixtures/bookshelf.yaml) are valid OpenAPI 3.0.
- Every example of the ROMA document (media type, parameter, header and schema level, `example`
  and `examples.*.value`) validates against its schema, `$ref`s resolved, formats such as
  date-time checked.
- Every `error_code` in an example is listed in `x-error-codes`, and an error body's code has the
  HTTP status of the response it is an example of.
- The seed pages' examples appear verbatim (byte for byte as compact JSON).
- Negative self-tests: mutated copies of the document must be flagged by the same functions, so
  none of the checks above can pass by finding nothing.

It only reads: it never rewrites a document. Prints one line per check and a closing
`N passed, N failed` line; exits 1 on any failure.

Needs openapi-spec-validator and openapi-schema-validator (and PyYAML, which they pull in);
`.ci/run` installs pinned versions into target/ci-venv.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator
from referencing import Registry
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parents[2]
ROMA = ROOT / "openapi" / "roma-assets.yaml"
BOOKSHELF = ROOT / "tests" / "fixtures" / "bookshelf.yaml"

# The seed pages' examples (/work/shared/seeds), as compact JSON in the pages' key order.
SEED_EXPORT_REQUEST = (
    '{"apps":[{"id":"b1e6b1e6-4f3f-4a80-bb45-f4b9039f95a3"},'
    '{"id":"b2e6b145-4f3f-4a80-aa45-f4b8029f95a4"}],'
    '"tasks":[{"id":"b2e6a456-1234-4a80-aa45-f4b8029f95a4"},'
    '{"id":"123456648-4f3f-4a80-aa45-f4b00005a42"}]}'
)
SEED_JOB_RESPONSE = '{"job_id":"ff8080814dbd65d7014dbe0d84db0013"}'
SEED_FORBIDDEN = (
    '{"error_code":"ROMA.00000101","error_msg":"error summary",'
    '"error_details":"some error details here","request_id":"13760c1fe8655e61209b75665e9bef43"}'
)
SEED_IMPORT_REQUEST = '{"ImportAssetRequestBody":"assetname.zip"}'

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_URI = "urn:roma-assets:openapi"


# ---------------------------------------------------------------------------------------------
# Loading


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's implicit timestamps and yes/no/on/off booleans.

    Why: the Rust side reads the document as YAML 1.2, where `2019-12-06T06:49:04Z` unquoted is a
    string and `on` is not a boolean; the checks must judge the document the generator sees.
    """


_YAML11_ONLY = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML11_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


# ---------------------------------------------------------------------------------------------
# JSON pointers


def ptr_join(ptr: str, key: Any) -> str:
    return f"{ptr}/{str(key).replace('~', '~0').replace('/', '~1')}"


def ptr_parts(ptr: str) -> list[str]:
    if ptr in ("", "#"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in ptr.lstrip("#").split("/")[1:]]


def describe(ptr: str) -> str:
    """A JSON pointer as a reader names the place.

    `/paths/~1v2~1…~1export/post/requestBody/content/application~1json/example` becomes
    `POST /v2/…/export requestBody application/json example`.
    """
    parts = ptr_parts(ptr)
    if len(parts) >= 3 and parts[0] == "paths":
        head, rest = f"{parts[2].upper()} {parts[1]}", parts[3:]
    else:
        head, rest = "/".join(parts[:3]), parts[3:]
    return " ".join([head] + [p for p in rest if p not in ("content", "value")])


def resolve_ptr(doc: Any, ptr: str) -> Any:
    node = doc
    for part in ptr_parts(ptr):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def deref(doc: Any, node: Any, depth: int = 0) -> Any:
    """Follows a local `$ref` (a Reference Object, not inside a schema) to its target."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or depth > 20:
            raise ValueError(f"cannot follow $ref {ref!r}")
        node = resolve_ptr(doc, ref)
        depth += 1
    return node


# ---------------------------------------------------------------------------------------------
# Finding every example


@dataclass
class Example:
    where: str  # JSON pointer of the example value
    kind: str  # media type | parameter | header | schema
    value: Any
    schema_ptr: str  # JSON pointer of the schema it must match


def _example_values(doc: Any, node: dict, ptr: str) -> Iterator[tuple[str, Any]]:
    if "example" in node:
        yield ptr_join(ptr, "example"), node["example"]
    for name, ex in (node.get("examples") or {}).items():
        ex_ptr = ptr_join(ptr_join(ptr, "examples"), name)
        target = deref(doc, ex)
        if "externalValue" in target:
            raise ValueError(f"{ex_ptr}: externalValue cannot be checked offline")
        if "value" not in target:
            raise ValueError(f"{ex_ptr}: an Example Object without a value")
        yield ptr_join(ex_ptr, "value"), target["value"]


def _walk_schema(doc: Any, schema: Any, ptr: str, out: list[Example]) -> None:
    if not isinstance(schema, dict) or "$ref" in schema:
        return  # a $ref's target is walked where it is defined
    if "example" in schema:
        out.append(Example(ptr_join(ptr, "example"), "schema", schema["example"], ptr))
    for key in ("properties",):
        for name, sub in (schema.get(key) or {}).items():
            _walk_schema(doc, sub, ptr_join(ptr_join(ptr, key), name), out)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            _walk_schema(doc, schema[key], ptr_join(ptr, key), out)
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(key) or []):
            _walk_schema(doc, sub, ptr_join(ptr_join(ptr, key), i), out)


def _walk(doc: Any, node: Any, ptr: str, out: list[Example]) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(doc, item, ptr_join(ptr, i), out)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("schema"), dict) and ("example" in node or "examples" in node):
        parts = ptr_parts(ptr)
        in_content = len(parts) >= 2 and parts[-2] == "content"
        kind = "parameter" if "in" in node else "media type" if in_content else "header"
        for where, value in _example_values(doc, node, ptr):
            out.append(Example(where, kind, value, ptr_join(ptr, "schema")))
    for key, value in node.items():
        if str(key).startswith("x-") or key in ("example", "examples"):
            continue  # extensions and example values are data, not OpenAPI objects
        sub_ptr = ptr_join(ptr, key)
        if key == "schema" and isinstance(value, dict):
            _walk_schema(doc, value, sub_ptr, out)
        elif key == "schemas" and ptr == "/components" and isinstance(value, dict):
            for name, schema in value.items():
                _walk_schema(doc, schema, ptr_join(sub_ptr, name), out)
        else:
            _walk(doc, value, sub_ptr, out)


def find_examples(doc: Any) -> list[Example]:
    out: list[Example] = []
    _walk(doc, doc, "", out)
    return out


# ---------------------------------------------------------------------------------------------
# The checks: each returns the list of problems found (empty = passed)


def spec_problems(doc: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in OpenAPIV30SpecValidator(doc).iter_errors()
    ]


def example_problems(doc: Any, ex: Example) -> list[str]:
    registry = Registry().with_resource(DOC_URI, DRAFT4.create_resource(doc))
    validator = OAS30Validator(
        {"$ref": f"{DOC_URI}#{ex.schema_ptr}"},
        registry=registry,
        # Without a format checker OAS30Validator checks no `format` at all; this one holds
        # jsonschema's date-time (through rfc3339-validator) plus the OpenAPI formats.
        format_checker=OAS30Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<value>'}: {e.message}"
        for e in sorted(validator.iter_errors(ex.value), key=lambda e: list(map(str, e.path)))
    ]


def error_codes(doc: Any) -> dict[str, dict]:
    return {entry["code"]: entry for entry in doc.get("x-error-codes") or []}


def error_code_list_problems(doc: Any) -> list[str]:
    entries = doc.get("x-error-codes")
    if not isinstance(entries, list) or not entries:
        return ["x-error-codes is missing or empty"]
    problems = []
    seen: set[str] = set()
    rejections: set[str] = set()
    for i, entry in enumerate(entries):
        code, status = entry.get("code"), entry.get("status")
        if not isinstance(code, str) or not code:
            problems.append(f"entry {i}: no code")
        elif code in seen:
            problems.append(f"{code} listed twice")
        seen.add(code)
        if not isinstance(status, int) or not 400 <= status <= 599:
            problems.append(f"{code}: status {status!r} is not an HTTP error status")
        if "rejection" in entry:
            if entry["rejection"] in rejections:
                problems.append(f"{code}: rejection {entry['rejection']!r} used twice")
            rejections.add(entry["rejection"])
    return problems


def _response_statuses(doc: Any) -> dict[str, set[int]]:
    """components/responses name -> the HTTP statuses of the operations that use it."""
    out: dict[str, set[int]] = {}
    for path_item in (doc.get("paths") or {}).values():
        for method in HTTP_METHODS:
            for status, resp in ((path_item.get(method) or {}).get("responses") or {}).items():
                ref = resp.get("$ref", "") if isinstance(resp, dict) else ""
                if ref.startswith("#/components/responses/") and str(status).isdigit():
                    out.setdefault(ref.rsplit("/", 1)[1], set()).add(int(status))
    return out


def _statuses_of(doc: Any, where: str) -> set[int]:
    parts = ptr_parts(where)
    if len(parts) > 4 and parts[0] == "paths" and parts[3] == "responses" and parts[4].isdigit():
        return {int(parts[4])}
    if len(parts) > 2 and parts[:2] == ["components", "responses"]:
        return _response_statuses(doc).get(parts[2], set())
    return set()


def _error_codes_in(value: Any, ptr: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "error_code":
                yield ptr_join(ptr, k), v
            yield from _error_codes_in(v, ptr_join(ptr, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _error_codes_in(v, ptr_join(ptr, i))


def example_error_code_problems(doc: Any, ex: Example) -> list[str]:
    codes = error_codes(doc)
    problems = []
    for where, code in _error_codes_in(ex.value):
        if code not in codes:
            problems.append(f"{where or '/'}: {code!r} is not listed in x-error-codes")
    top = ex.value.get("error_code") if isinstance(ex.value, dict) else None
    if top in codes:
        statuses = _statuses_of(doc, ex.where)
        if statuses and statuses != {codes[top]["status"]}:
            problems.append(
                f"/error_code: {top} has status {codes[top]['status']} in x-error-codes, "
                f"but this example is a response for {sorted(statuses)}"
            )
    return problems


def _operation(doc: Any, operation_id: str) -> tuple[str, dict]:
    for path, path_item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            op = path_item.get(method)
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return ptr_join(ptr_join(ptr_join("", "paths"), path), method), op
    raise KeyError(f"no operation {operation_id}")


def _media_example_jsons(doc: Any, media: dict, ptr: str) -> list[str]:
    return [
        json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        for _, value in _example_values(doc, media, ptr)
    ]


def seed_problems(
    doc: Any, operation_id: str, part: str, media_type: str, expected: str
) -> list[str]:
    """`part` is "request" or a response status."""
    op_ptr, op = _operation(doc, operation_id)
    if part == "request":
        holder = deref(doc, op.get("requestBody"))
    else:
        holder = deref(doc, (op.get("responses") or {}).get(part))
    media = ((holder or {}).get("content") or {}).get(media_type)
    if media is None:
        return [f"{op_ptr}: {part} has no {media_type} content"]
    found = _media_example_jsons(doc, media, op_ptr)
    if expected in found:
        return []
    return [
        f"{operation_id} {part} {media_type}: seed example {expected} not found; "
        f"examples are {found or 'none'}"
    ]


SEEDS = [
    ("ExportAsset", "request", "application/json", SEED_EXPORT_REQUEST),
    ("ExportAsset", "200", "application/json", SEED_JOB_RESPONSE),
    ("ExportAsset", "403", "application/json", SEED_FORBIDDEN),
    ("ImportAsset", "request", "multipart/form-data", SEED_IMPORT_REQUEST),
    ("ImportAsset", "200", "application/json", SEED_JOB_RESPONSE),
    ("ImportAsset", "403", "application/json", SEED_FORBIDDEN),
]


def all_problems(doc: Any) -> list[str]:
    """Every check on the ROMA document, as one list (for the negative self-tests)."""
    problems = list(spec_problems(doc)) + error_code_list_problems(doc)
    for ex in find_examples(doc):
        problems += [f"{ex.where}: {p}" for p in example_problems(doc, ex)]
        problems += [f"{ex.where}: {p}" for p in example_error_code_problems(doc, ex)]
    for seed in SEEDS:
        problems += seed_problems(doc, *seed)
    return problems


# ---------------------------------------------------------------------------------------------
# Negative self-tests: each mutates a copy and names the check that must flag it


def _mutate_export_job_id(doc: Any) -> None:
    _, op = _operation(doc, "ExportAsset")
    op["responses"]["200"]["content"]["application/json"]["example"]["job_id"] = "f" * 129


def _mutate_begin_time(doc: Any) -> None:
    _, op = _operation(doc, "CheckAssetJobStatus")
    op["responses"]["200"]["content"]["application/json"]["examples"]["running"]["value"][
        "begin_time"
    ] = "yesterday"


def _mutate_error_code(doc: Any) -> None:
    doc["components"]["responses"]["NotFound"]["content"]["application/json"]["example"][
        "error_code"
    ] = "ROMA.99999"


def _mutate_error_status(doc: Any) -> None:
    # ROMA.10021 is listed, but as a 404: it cannot be the example of a 400 response.
    doc["components"]["responses"]["BadRequest"]["content"]["application/json"]["example"][
        "error_code"
    ] = "ROMA.10021"


def _mutate_reason_code(doc: Any) -> None:
    _, op = _operation(doc, "CheckAssetJobStatus")
    failed = op["responses"]["200"]["content"]["application/json"]["examples"]["failed"]["value"]
    failed["reasons"][0]["error_code"] = "ROMA.77777"


def _mutate_parameter_example(doc: Any) -> None:
    _, op = _operation(doc, "ImportAsset")
    next(p for p in op["parameters"] if p.get("name") == "mode")["example"] = "Replace"


def _mutate_schema_example(doc: Any) -> None:
    doc["components"]["schemas"]["JobId"]["example"] = 12


def _mutate_nested_schema_example(doc: Any) -> None:
    props = doc["components"]["schemas"]["CheckAssetJobStatusResponse"]["properties"]
    props["progress_percent"]["example"] = 1.5


def _mutate_seed_forbidden(doc: Any) -> None:
    doc["components"]["responses"]["Forbidden"]["content"]["application/json"]["example"][
        "error_msg"
    ] = "Error summary"


def _mutate_seed_key_order(doc: Any) -> None:
    _, op = _operation(doc, "ExportAsset")
    media = op["requestBody"]["content"]["application/json"]
    media["example"] = dict(reversed(list(media["example"].items())))


def _mutate_spec(doc: Any) -> None:
    _, op = _operation(doc, "ExportAsset")
    del op["responses"]


# (what the mutation does, the mutation, text the right check's problem must contain): a
# self-test passes only if the check it aims at flags the mutation, not any check at all.
NEGATIVE = [
    ("job_id of 129 characters (maxLength 128)", _mutate_export_job_id, "is too long"),
    ("begin_time that is not a date-time", _mutate_begin_time, "'yesterday' is not a 'date-time'"),
    (
        "error_code not in x-error-codes",
        _mutate_error_code,
        "'ROMA.99999' is not listed in x-error-codes",
    ),
    (
        "error_code whose status differs from the response's",
        _mutate_error_status,
        "ROMA.10021 has status 404",
    ),
    (
        "job reason error_code not in x-error-codes",
        _mutate_reason_code,
        "'ROMA.77777' is not listed",
    ),
    ("parameter example outside its enum", _mutate_parameter_example, "'Replace' is not one of"),
    (
        "schema-level example of the wrong type",
        _mutate_schema_example,
        "12 is not of type 'string'",
    ),
    (
        "nested schema-level example above its maximum",
        _mutate_nested_schema_example,
        "1.5 is greater than the maximum",
    ),
    (
        "seed 403 example changed by one letter",
        _mutate_seed_forbidden,
        "ExportAsset 403 application/json: seed example",
    ),
    (
        "seed request example with its keys reordered",
        _mutate_seed_key_order,
        "ExportAsset request application/json: seed example",
    ),
    (
        "operation without responses (not OpenAPI 3.0)",
        _mutate_spec,
        "'responses' is a required property",
    ),
]


# ---------------------------------------------------------------------------------------------
# Running


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn: Callable[[], list[str]]) -> None:
        try:
            problems = fn()
        except Exception:  # a crashing check is a failed check, not a skipped one
            problems = ["the check itself raised:"] + traceback.format_exc().rstrip().splitlines()
        if problems:
            self.failed += 1
            print(f"FAIL  {name}")
            for p in problems:
                print(f"        {p}")
        else:
            self.passed += 1
            print(f"ok    {name}")
        sys.stdout.flush()


def main() -> int:
    run = Runner()
    docs: dict[Path, Any] = {}
    for path in (ROMA, BOOKSHELF):
        rel = path.relative_to(ROOT)

        def load_and_validate(path: Path = path) -> list[str]:
            docs[path] = load(path)
            return spec_problems(docs[path])

        run.check(f"valid OpenAPI 3.0: {rel}", load_and_validate)

    doc = docs.get(ROMA)
    if doc is None:
        print(f"{run.passed} passed, {run.failed + 1} failed")
        return 1

    run.check(
        "x-error-codes: codes unique, error statuses, rejections unique",
        lambda: error_code_list_problems(doc),
    )

    examples: list[Example] = []

    def collect() -> list[str]:
        examples.extend(find_examples(doc))
        return [] if examples else ["no example found in the document"]

    run.check("examples found in openapi/roma-assets.yaml", collect)
    kinds = {
        k: sum(1 for e in examples if e.kind == k)
        for k in ("media type", "parameter", "header", "schema")
    }
    print("        " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    for ex in examples:
        run.check(
            f"{ex.kind} example matches its schema: {describe(ex.where)}",
            lambda ex=ex: example_problems(doc, ex),
        )
        if any(True for _ in _error_codes_in(ex.value)):
            run.check(
                f"error codes listed in x-error-codes: {describe(ex.where)}",
                lambda ex=ex: example_error_code_problems(doc, ex),
            )

    for operation_id, part, media_type, expected in SEEDS:
        run.check(
            f"seed example verbatim: {operation_id} {part} {media_type}",
            lambda s=(operation_id, part, media_type, expected): seed_problems(doc, *s),
        )

    def baseline() -> list[str]:
        # The self-tests below are only meaningful if the unmutated document is clean.
        return [f"the unmutated document already fails: {p}" for p in all_problems(doc)]

    run.check("self-test baseline: all checks pass on the unmutated document", baseline)
    for name, mutate, expected in NEGATIVE:

        def flagged(mutate: Callable[[Any], None] = mutate, expected: str = expected) -> list[str]:
            bad = copy.deepcopy(doc)
            mutate(bad)
            problems = all_problems(bad)
            if any(expected in p for p in problems):
                return []
            return [f"no problem mentioning {expected!r}; found {problems or 'none'}"]

        run.check(f"self-test, flagged: {name}", flagged)

    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
