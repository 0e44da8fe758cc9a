#!/usr/bin/env python3
"""Make tests/signing/vectors.json: SDK-HMAC-SHA256 request signatures computed by the
official Huawei Cloud Python SDK signer (huaweicloudsdkcore), so that our Rust signer
(runtime/src/sign.rs) can be checked byte for byte against it.

Run:   /tmp/sdkvenv/bin/python tests/signing/make_vectors.py          (writes vectors.json)
       /tmp/sdkvenv/bin/python tests/signing/make_vectors.py --check  (fails if it would change)

Needs huaweicloudsdkcore==3.1.219 and huaweicloudsdkroma==3.1.219 (see README.md).
Nothing here depends on the clock: every request carries a fixed X-Sdk-Date, which the
SDK signer then uses instead of the current time.
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

PINNED = {"huaweicloudsdkcore": "3.1.219", "huaweicloudsdkroma": "3.1.219"}

AK = "HPUAEXAMPLEAK0000001"
SK = "exampleSecretKey0000000000000000000000000"
DATE = "20261201T120000Z"
SCHEME = "http"
HOST = "127.0.0.1:8080"
USER_AGENT = "huaweicloud-usdk-python/3.0"
OUT = Path(__file__).resolve().parent / "vectors.json"


def path_param(value):
    """A path parameter as the SDK client puts it into the resource path
    (huaweicloudsdkcore/client.py, Client._parse_path_params: quote(str(v), safe=''))."""
    return quote(str(value), safe="")


MULTIPART_BODY = (
    b"--xyz\r\n"
    b'Content-Disposition: form-data; name="file"; filename="assets.zip"\r\n'
    b"Content-Type: application/zip\r\n"
    b"\r\n"
    b"PK\x03\x04demo-assets\x00\x01\x02\xff\r\n"
    b"--xyz--\r\n"
)

# Each case: the inputs an SdkRequest is built from. resource_path is already
# percent-encoded, as the SDK client hands it to the signer; query values are raw
# (not encoded), as the client hands them over. Host is not given: the signer adds it
# from SdkRequest.host.
CASES = [
    {
        "name": "json-post",
        "method": "POST",
        "resource_path": "/v2/demo/instances/demo/assets/export",
        "query_params": [],
        "headers": {
            "Content-Type": "application/json",
            "X-Project-Id": "demo",
            "User-Agent": USER_AGENT,
        },
        "body": b'{"apps":[{"id":"demo-app-orders"}]}',
    },
    {
        "name": "get-query-spaces-non-ascii",
        "method": "GET",
        "resource_path": "/v2/demo/instances/demo/apps",
        # Given out of order on purpose: the SDK sorts them.
        "query_params": [
            ("name", "order app"),
            ("offset", 0),
            ("limit", 10),
            ("tag", "订单 café/a+b"),
        ],
        "headers": {"X-Project-Id": "demo", "User-Agent": USER_AGENT},
        "body": b"",
    },
    {
        "name": "get-no-query-no-body",
        "method": "GET",
        "resource_path": "/v2/demo/instances/demo/assets/jobs/ff8080814dbd65d7014dbe0d84db0013",
        "query_params": [],
        "headers": {"X-Project-Id": "demo", "User-Agent": USER_AGENT},
        "body": b"",
    },
    {
        "name": "multipart-upload",
        "method": "POST",
        "resource_path": "/v2/demo/instances/demo/assets/import",
        "query_params": [],
        "headers": {
            "Content-Type": "multipart/form-data; boundary=xyz",
            "X-Project-Id": "demo",
            "User-Agent": USER_AGENT,
        },
        "body": MULTIPART_BODY,
    },
    {
        "name": "path-segment-percent-encoded",
        "method": "GET",
        "resource_path": "/v2/demo/instances/{instance_id}/apps".replace(
            "{instance_id}", path_param("roma été")
        ),
        "query_params": [],
        "headers": {"X-Project-Id": "demo", "User-Agent": USER_AGENT},
        "body": b"",
    },
    {
        # A quirk: the signer percent-decodes the path before splitting it at '/', so an
        # encoded slash (%2F) inside a segment is signed as a plain '/' separator.
        "name": "path-segment-encoded-slash",
        "method": "GET",
        "resource_path": "/v2/demo/instances/demo/apps/{app_id}".replace(
            "{app_id}", path_param("orders/v1")
        ),
        "query_params": [],
        "headers": {"X-Project-Id": "demo", "User-Agent": USER_AGENT},
        "body": b"",
    },
]


class CapturingSigner(Signer):
    """The SDK's Signer, unchanged, recording what its sign() hashed and signed."""

    def __init__(self, credentials):
        super().__init__(credentials)
        self.captured = {}

    def _process_canonical_request(self, request, signed_headers):
        canonical = super()._process_canonical_request(request, signed_headers)
        self.captured["signed_headers"] = list(signed_headers)
        self.captured["canonical_request"] = canonical
        return canonical

    def _process_string_to_sign(self, canonical_request, time):
        string_to_sign = super()._process_string_to_sign(canonical_request, time)
        self.captured["string_to_sign"] = string_to_sign
        return string_to_sign


def build_request(case):
    headers = dict(case["headers"])
    headers["X-Sdk-Date"] = DATE
    return SdkRequest(
        method=case["method"],
        schema=SCHEME,
        host=HOST,
        resource_path=case["resource_path"],
        query_params=copy.deepcopy(case["query_params"]),
        header_params=headers,
        body=case["body"] or None,
    )


def credentials():
    return BasicCredentials(ak=AK, sk=SK)


def make_vector(case):
    signer = CapturingSigner(credentials())
    request = signer.sign(build_request(case))
    cap = signer.captured

    path, _, query = request.uri.partition("?")
    headers = dict(request.header_params)
    body = request.body or b""
    authorization = headers["Authorization"]

    # 1. A fresh request signed by the plain SDK Signer gives the same result.
    fresh = Signer(credentials()).sign(build_request(case))
    assert fresh.uri == request.uri, (case["name"], fresh.uri, request.uri)
    assert dict(fresh.header_params) == headers, (case["name"], fresh.header_params)

    # 2. The captured pieces are the ones the signature was made of.
    assert cap["string_to_sign"] == "SDK-HMAC-SHA256\n%s\n%s" % (
        DATE,
        hashlib.sha256(cap["canonical_request"].encode("utf-8")).hexdigest(),
    ), case["name"]
    signature = hmac.new(SK.encode(), cap["string_to_sign"].encode(), hashlib.sha256).hexdigest()
    assert authorization == "SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s" % (
        AK, ";".join(cap["signed_headers"]), signature,
    ), case["name"]
    assert sorted(h.lower() for h in headers if h != "Authorization" and "_" not in h) == \
        cap["signed_headers"], case["name"]
    assert headers["X-Sdk-Date"] == DATE and headers["Host"] == HOST, case["name"]

    # 3. What requests (the SDK's HTTP client) puts on the wire is request.uri unchanged.
    prepared = requests.Request(
        case["method"], request.url, headers=headers, data=body or None
    ).prepare()
    assert prepared.path_url == request.uri, (case["name"], prepared.path_url, request.uri)

    # 4. Case-specific expectations.
    if case["name"] == "multipart-upload":
        assert headers.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD", headers
        assert cap["canonical_request"].endswith("\nUNSIGNED-PAYLOAD")
    else:
        assert "X-Sdk-Content-Sha256" not in headers, headers
    if not body:
        assert cap["canonical_request"].endswith("\n" + Signer._EMPTY_HASH)

    return {
        "name": case["name"],
        "method": case["method"],
        "path": path,
        "query": query,
        "headers": headers,
        "body_base64": base64.b64encode(body).decode("ascii"),
        "canonical_request": cap["canonical_request"],
        "string_to_sign": cap["string_to_sign"],
        "authorization": authorization,
        "ak": AK,
        "sk": SK,
        "date": DATE,
    }


def render():
    versions = {pkg: metadata.version(pkg) for pkg in sorted(PINNED)}
    doc = {
        "algorithm": "SDK-HMAC-SHA256",
        "generator": "tests/signing/make_vectors.py",
        "sdk": versions,
        "vectors": [make_vector(case) for case in CASES],
    }
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n", versions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if vectors.json differs from what would be written")
    parser.add_argument("--any-version", action="store_true",
                        help="run with SDK versions other than the pinned ones (output records them)")
    args = parser.parse_args()

    text, versions = render()
    if versions != PINNED and not args.any_version:
        sys.exit("need %s, found %s (pass --any-version to compare anyway)" % (PINNED, versions))

    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else None
        if current != text:
            sys.exit("%s is not what the SDK produces; rerun without --check" % OUT)
        print("%s is up to date" % OUT)
        return
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("wrote %s (%d vectors)" % (OUT, len(CASES)))


if __name__ == "__main__":
    main()
