//! The signer against the official Huawei Cloud Python SDK's: `tests/signing/vectors.json` holds
//! requests signed by `huaweicloudsdkcore`'s `Signer` (see `tests/signing/README.md`). Each must
//! be reproduced byte for byte (canonical request, string to sign, `Authorization`), accepted by
//! the verifier, and refused once any single byte of a signed part changes.

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use roma_assets_runtime::sign::{
    self, Authorization, DATE_FORMAT, Payload, Request, SignError, SigningKey,
};
use serde_json::Value;

struct Vector {
    name: String,
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    canonical_request: String,
    string_to_sign: String,
    authorization: String,
    key: SigningKey,
    date: chrono::DateTime<chrono::Utc>,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/signing/vectors.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(file["algorithm"], sign::ALGORITHM);
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_string();
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut headers = HeaderMap::new();
            for (name, value) in v["headers"].as_object().unwrap() {
                // Sent as UTF-8 bytes, as the SDK's HTTP library sends them.
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(value.as_str().unwrap().as_bytes()).unwrap(),
                );
            }
            let query = text(v, "query");
            Vector {
                name: text(v, "name"),
                method: text(v, "method"),
                path: text(v, "path"),
                query: (!query.is_empty()).then_some(query),
                headers,
                body: base64::engine::general_purpose::STANDARD
                    .decode(text(v, "body_base64"))
                    .unwrap(),
                canonical_request: text(v, "canonical_request"),
                string_to_sign: text(v, "string_to_sign"),
                authorization: text(v, "authorization"),
                key: SigningKey::new(text(v, "ak"), text(v, "sk")).unwrap(),
                date: chrono::NaiveDateTime::parse_from_str(&text(v, "date"), DATE_FORMAT)
                    .unwrap()
                    .and_utc(),
            }
        })
        .collect()
}

/// What the SDK's signer does with the body: a multipart upload is streamed (UNSIGNED-PAYLOAD).
fn payload(v: &Vector) -> Payload<'_> {
    if v.headers.contains_key(sign::CONTENT_SHA256_HEADER) {
        Payload::Streamed
    } else {
        Payload::Bytes(&v.body)
    }
}

fn request(v: &Vector) -> Request<'_> {
    Request {
        method: &v.method,
        path: &v.path,
        query: v.query.as_deref(),
        headers: &v.headers,
    }
}

fn verify(
    v: &Vector,
    request: &Request<'_>,
    payload: Payload<'_>,
    authorization: &str,
) -> Result<(), SignError> {
    let parsed = Authorization::parse(authorization)?;
    sign::verify(
        request,
        payload,
        &parsed,
        v.key.secret_key(),
        v.date,
        sign::DEFAULT_MAX_CLOCK_SKEW,
    )
}

#[test]
fn there_are_vectors_for_every_kind_of_request_the_issue_names() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.name).collect();
    for wanted in [
        "json-post",
        "get-query-spaces-non-ascii",
        "get-no-query-no-body",
        "multipart-upload",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
}

#[test]
fn our_signer_reproduces_the_sdks_signatures_byte_for_byte() {
    for v in vectors() {
        let parsed = Authorization::parse(&v.authorization).unwrap();
        let payload_hash = match payload(&v) {
            Payload::Streamed => sign::UNSIGNED_PAYLOAD.to_string(),
            Payload::Bytes([]) => sign::EMPTY_SHA256.to_string(),
            Payload::Bytes(body) => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body)),
        };
        let canonical =
            sign::canonical_request(&request(&v), &parsed.signed_headers, &payload_hash).unwrap();
        assert_eq!(
            String::from_utf8(canonical.clone()).unwrap(),
            v.canonical_request,
            "{}",
            v.name
        );
        assert_eq!(
            sign::string_to_sign(&sign::format_date(v.date), &canonical),
            v.string_to_sign,
            "{}",
            v.name
        );

        // Signing from scratch: the same headers without the signature (the signer adds the
        // date and, for a streamed body, X-Sdk-Content-Sha256 itself).
        let mut headers = v.headers.clone();
        headers.remove("authorization");
        headers.remove(sign::DATE_HEADER);
        headers.remove(sign::CONTENT_SHA256_HEADER);
        sign::sign(
            &mut headers,
            &v.method,
            &v.path,
            v.query.as_deref(),
            payload(&v),
            &v.key,
            v.date,
        )
        .unwrap();
        assert_eq!(
            headers["authorization"],
            v.authorization.as_str(),
            "{}",
            v.name
        );
        assert_eq!(
            headers, v.headers,
            "{}: every header as the SDK sends it",
            v.name
        );
    }
}

#[test]
fn the_verifier_accepts_every_sdk_signature_and_its_reserialisation() {
    for v in vectors() {
        let request = request(&v);
        assert_eq!(
            verify(&v, &request, payload(&v), &v.authorization),
            Ok(()),
            "{}",
            v.name
        );
        let reserialised = Authorization::parse(&v.authorization).unwrap().to_string();
        assert_eq!(reserialised, v.authorization, "{}", v.name);
    }
}

/// Every byte position of `text`, changed to another visible character.
fn one_byte_changes(text: &str) -> impl Iterator<Item = String> + '_ {
    (0..text.len()).filter_map(move |i| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
        String::from_utf8(bytes).ok()
    })
}

#[test]
fn any_single_byte_change_to_a_signed_part_fails() {
    for v in vectors() {
        let refused =
            |request: &Request<'_>, payload: Payload<'_>, authorization: &str, what: &str| {
                assert!(
                    verify(&v, request, payload, authorization).is_err(),
                    "{}: a change to the {what} still verifies",
                    v.name
                );
            };
        let base = request(&v);
        refused(
            &Request {
                method: "PUT",
                ..base
            },
            payload(&v),
            &v.authorization,
            "method",
        );
        for path in one_byte_changes(&v.path) {
            refused(
                &Request {
                    path: &path,
                    ..base
                },
                payload(&v),
                &v.authorization,
                "path",
            );
        }
        for query in v.query.iter().flat_map(|q| one_byte_changes(q)) {
            refused(
                &Request {
                    query: Some(&query),
                    ..base
                },
                payload(&v),
                &v.authorization,
                "query",
            );
        }
        if let Payload::Bytes(body) = payload(&v) {
            for i in 0..body.len() {
                let mut changed = body.to_vec();
                changed[i] ^= 0x01;
                refused(&base, Payload::Bytes(&changed), &v.authorization, "body");
            }
        }
        let parsed = Authorization::parse(&v.authorization).unwrap();
        for name in &parsed.signed_headers {
            let value = v.headers[name.as_str()].to_str().unwrap().to_string();
            for changed in one_byte_changes(&value) {
                let mut headers = v.headers.clone();
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    changed.parse().unwrap(),
                );
                refused(
                    &Request {
                        headers: &headers,
                        ..base
                    },
                    payload(&v),
                    &v.authorization,
                    name,
                );
            }
        }
        for signature in one_byte_changes(&parsed.signature) {
            let forged = Authorization {
                signature,
                ..parsed.clone()
            }
            .to_string();
            refused(&base, payload(&v), &forged, "signature");
        }
    }
}
