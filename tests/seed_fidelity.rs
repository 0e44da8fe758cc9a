//! Seed fidelity: every fact of the two seed pages (`shared/seeds/`, the ground truth) is stated by
//! `openapi/roma-assets.yaml`, unchanged: each parameter with its location, type, required flag,
//! limits, enum and default; the token header; each body field; each status with its description;
//! each example; the page's function sentences. A later edit that drops, loosens or tightens one
//! fails here.
//!
//! The facts are a table in this file ([`seed_pages`]), so the test runs in any checkout. A second
//! test parses the seed pages themselves (`../shared/seeds/` beside the checkout, as CI has it, or
//! `ROMA_SEEDS_DIR`) and requires the table to be exactly what the pages say, so the table cannot
//! drift from them either.
//!
//! The document is read as plain YAML (yaml_serde into serde_json), `$ref`s followed by hand: this
//! knows nothing of the generator.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The facts

/// Where a parameter of a seed page sits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loc {
    Path,
    Query,
    Header,
    /// A field of the JSON request body.
    Body,
    /// A field of the objects of the body array named here (`Table 4 apps`).
    Item(String),
    /// A part of the multipart request body.
    FormData,
    /// A field of the response body of this status.
    Response(u16),
}

/// One row of a seed page's parameter tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    loc: Loc,
    name: String,
    /// `Mandatory` (response tables have no such column).
    required: Option<bool>,
    /// As the page writes it: `String`, `File`, `Array of apps objects`.
    ty: String,
    min: Option<u64>,
    max: Option<u64>,
    /// The bulleted values of the description (`• AddNew`).
    values: Vec<String>,
    /// `The default mode is AddNew.`
    default: Option<String>,
    /// The first line of the description.
    description: String,
}

/// One seed page.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    file: String,
    title: String,
    /// The sentences of the Function section.
    function: Vec<String>,
    method: String,
    path: String,
    params: Vec<Param>,
    /// (status, description) of the Status Codes table.
    statuses: Vec<(u16, String)>,
    request_example: Value,
    /// (status, example body).
    response_examples: Vec<(u16, Value)>,
}

#[allow(clippy::too_many_arguments)]
fn param(
    loc: Loc,
    name: &str,
    required: Option<bool>,
    ty: &str,
    limits: Option<(u64, u64)>,
    values: &[&str],
    default: Option<&str>,
    description: &str,
) -> Param {
    Param {
        loc,
        name: name.into(),
        required,
        ty: ty.into(),
        min: limits.map(|l| l.0),
        max: limits.map(|l| l.1),
        values: values.iter().map(|v| v.to_string()).collect(),
        default: default.map(Into::into),
        description: description.into(),
    }
}

fn string(
    loc: Loc,
    name: &str,
    required: Option<bool>,
    limits: Option<(u64, u64)>,
    d: &str,
) -> Param {
    param(loc, name, required, "String", limits, &[], None, d)
}

/// The path parameters (Table 1 of both pages).
fn common(params: &mut Vec<Param>) {
    params.insert(
        0,
        string(
            Loc::Path,
            "instance_id",
            Some(true),
            Some((0, 64)),
            "Instance ID.",
        ),
    );
    params.insert(
        1,
        string(
            Loc::Path,
            "project_id",
            Some(true),
            Some((0, 64)),
            "Project ID.",
        ),
    );
}

fn token() -> Param {
    string(
        Loc::Header,
        "X-Auth-Token",
        Some(true),
        Some((1, 100000)),
        "User token, which can be obtained by calling the IAM API (value of X-Subject-Token in the response header).",
    )
}

fn job_and_forbidden(params: &mut Vec<Param>, job: &str) {
    params.push(string(
        Loc::Response(200),
        "job_id",
        None,
        Some((1, 128)),
        job,
    ));
    for (name, d) in [
        ("error_code", "Error code."),
        ("error_msg", "Error message."),
        ("error_details", "Error information."),
        ("request_id", "Request ID."),
    ] {
        params.push(string(Loc::Response(403), name, None, Some((1, 128)), d));
    }
}

fn ok_and_forbidden() -> Vec<(u16, String)> {
    vec![(200, "OK".into()), (403, "Forbidden".into())]
}

fn job_example() -> Value {
    json!({"job_id": "ff8080814dbd65d7014dbe0d84db0013"})
}

fn forbidden_example() -> Value {
    json!({
        "error_code": "ROMA.00000101",
        "error_msg": "error summary",
        "error_details": "some error details here",
        "request_id": "13760c1fe8655e61209b75665e9bef43"
    })
}

/// The facts of the seed pages, transcribed from `shared/seeds/000_3f497f0866fa133a.txt`
/// (Exporting Assets in Batches) and `shared/seeds/001_e1d84b7dd2d76692.txt` (Importing Assets),
/// both "Updated on 2023-06-29". [`the_fact_table_is_what_the_seed_pages_say`] re-reads them.
fn seed_pages() -> Vec<Page> {
    let mut export = vec![token()];
    common(&mut export);
    export.push(param(
        Loc::Body,
        "apps",
        Some(true),
        "Array of apps objects",
        None,
        &[],
        None,
        "Applications.",
    ));
    export.push(param(
        Loc::Body,
        "tasks",
        Some(false),
        "Array of tasks objects",
        None,
        &[],
        None,
        "Tasks.",
    ));
    export.push(string(
        Loc::Item("apps".into()),
        "id",
        Some(false),
        None,
        "Application ID.",
    ));
    export.push(string(
        Loc::Item("tasks".into()),
        "id",
        Some(false),
        None,
        "Task ID.",
    ));
    job_and_forbidden(
        &mut export,
        "ID of an asset export job, which can be used to query the job progress.",
    );

    let mut import = vec![];
    common(&mut import);
    import.push(param(
        Loc::Query,
        "mode",
        Some(false),
        "String",
        None,
        &["AddNew", "Merge"],
        Some("AddNew"),
        "Mode for importing asset files.",
    ));
    import.push(string(
        Loc::Query,
        "prefix",
        Some(false),
        None,
        "Prefix of an application.",
    ));
    import.push(token());
    import.push(param(
        Loc::FormData,
        "ImportAssetRequestBody",
        Some(true),
        "File",
        None,
        &[],
        None,
        "Asset file to be imported.",
    ));
    job_and_forbidden(
        &mut import,
        "ID of an asset import job, which can be used to query the job progress.",
    );

    vec![
        Page {
            file: "000_3f497f0866fa133a.txt".into(),
            title: "Exporting Assets in Batches".into(),
            function: vec![
                "This API is used to create a job for exporting assets that meet given conditions.".into(),
                "A maximum of 100 applications and tasks are supported.".into(),
                "A user can create only one asset export job at a time. Ensure that no job in the Running state when the user creates such a job.".into(),
            ],
            method: "post".into(),
            path: "/v2/{project_id}/instances/{instance_id}/assets/export".into(),
            params: export,
            statuses: ok_and_forbidden(),
            request_example: json!({
                "apps": [
                    {"id": "b1e6b1e6-4f3f-4a80-bb45-f4b9039f95a3"},
                    {"id": "b2e6b145-4f3f-4a80-aa45-f4b8029f95a4"}
                ],
                "tasks": [
                    {"id": "b2e6a456-1234-4a80-aa45-f4b8029f95a4"},
                    {"id": "123456648-4f3f-4a80-aa45-f4b00005a42"}
                ]
            }),
            response_examples: vec![(200, job_example()), (403, forbidden_example())],
        },
        Page {
            file: "001_e1d84b7dd2d76692.txt".into(),
            title: "Importing Assets".into(),
            function: vec![
                "This API is used to create an asset import task. The asset version and specific assets are read from the asset content.".into(),
                "A maximum of 100 applications and tasks are supported.".into(),
                "A user can create only one asset import job at a time. In other words, there should be no job in the Running state when the user creates such a job.".into(),
            ],
            method: "post".into(),
            path: "/v2/{project_id}/instances/{instance_id}/assets/import".into(),
            params: import,
            statuses: ok_and_forbidden(),
            request_example: json!({"ImportAssetRequestBody": "assetname.zip"}),
            response_examples: vec![(200, job_example()), (403, forbidden_example())],
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Reading the seed pages

/// Where the seed pages are: `ROMA_SEEDS_DIR`, else `shared/seeds` beside the checkout.
fn seeds_dir() -> PathBuf {
    match std::env::var_os("ROMA_SEEDS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds"),
    }
}

fn is_type(token: &str) -> bool {
    matches!(
        token,
        "String"
            | "Integer"
            | "Long"
            | "Number"
            | "Boolean"
            | "Float"
            | "Double"
            | "File"
            | "Object"
    ) || (token.starts_with("Array of ") && token.ends_with(" objects"))
}

fn is_name(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The JSON value that starts at `lines[*at]` (a line opening with `{`), advancing `at` past it.
fn json_block(lines: &[&str], at: &mut usize) -> Result<Value, String> {
    let mut text = String::new();
    while *at < lines.len() {
        text.push_str(lines[*at]);
        text.push('\n');
        *at += 1;
        if let Ok(value) = serde_json::from_str(&text) {
            return Ok(value);
        }
    }
    Err(format!("unterminated JSON example: {text}"))
}

/// Parses a seed page (the text layout of the two pages: one cell or paragraph per line).
fn parse_page(file: &str, text: &str) -> Result<Page, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let find = |what: &str| {
        lines
            .iter()
            .position(|l| *l == what)
            .ok_or_else(|| format!("{file}: no line {what:?}"))
    };
    let title_at = lines
        .iter()
        .position(|l| l.starts_with("Updated on "))
        .ok_or_else(|| format!("{file}: no 'Updated on' line"))?;
    let title = lines[title_at + 1].to_string();

    let (function_at, uri_at) = (find("Function")?, find("URI")?);
    let function = lines[function_at + 1..uri_at]
        .iter()
        .filter_map(|l| l.strip_prefix('•'))
        .flat_map(|bullet| bullet.split(" - "))
        .map(|s| s.trim().to_string())
        .collect();
    let (method, path) = lines[uri_at + 1]
        .split_once(' ')
        .ok_or_else(|| format!("{file}: URI line {:?}", lines[uri_at + 1]))?;

    // The parameter tables, up to the examples.
    let examples_at = find("Example Requests")?;
    let mut params = vec![];
    let mut status: Option<u16> = None;
    let mut i = uri_at + 2;
    while i < examples_at {
        if let Some(code) = lines[i].strip_prefix("Status code: ") {
            status = Some(
                code.parse()
                    .map_err(|e| format!("{file}: status {code}: {e}"))?,
            );
            i += 1;
            continue;
        }
        let Some(table) = lines[i].strip_prefix("Table ") else {
            i += 1;
            continue;
        };
        let table_title = table.split_once(' ').map(|t| t.1).unwrap_or("").to_string();
        let loc = match table_title.as_str() {
            "Path Parameters" => Loc::Path,
            "Query Parameters" => Loc::Query,
            "Request header parameters" => Loc::Header,
            "Request body parameters" => Loc::Body,
            "FormData parameters" => Loc::FormData,
            "Response body parameters" => Loc::Response(
                status.ok_or_else(|| format!("{file}: response table before a status"))?,
            ),
            other => Loc::Item(other.to_string()),
        };
        i += 1;
        let mut header = vec![];
        while i < examples_at
            && matches!(lines[i], "Parameter" | "Mandatory" | "Type" | "Description")
        {
            header.push(lines[i]);
            i += 1;
        }
        let mandatory = header.contains(&"Mandatory");
        let end = (i..examples_at)
            .find(|&j| {
                lines[j].starts_with("Table ")
                    || lines[j].starts_with("Status code: ")
                    || matches!(lines[j], "Request Parameters" | "Response Parameters")
            })
            .unwrap_or(examples_at);
        let cells = &lines[i..end];
        let starts: Vec<usize> = (0..cells.len())
            .filter(|&k| {
                is_name(cells[k])
                    && if mandatory {
                        matches!(cells.get(k + 1), Some(&"Yes" | &"No"))
                            && cells.get(k + 2).is_some_and(|t| is_type(t))
                    } else {
                        cells.get(k + 1).is_some_and(|t| is_type(t))
                    }
            })
            .collect();
        for (n, &start) in starts.iter().enumerate() {
            let stop = starts.get(n + 1).copied().unwrap_or(cells.len());
            let (required, ty_at) = if mandatory {
                (Some(cells[start + 1] == "Yes"), start + 2)
            } else {
                (None, start + 1)
            };
            let description = &cells[ty_at + 1..stop];
            let number = |prefix: &str| -> Result<Option<u64>, String> {
                description
                    .iter()
                    .find_map(|l| l.strip_prefix(prefix))
                    .map(|n| {
                        n.trim()
                            .parse()
                            .map_err(|e| format!("{file}: {prefix} {n}: {e}"))
                    })
                    .transpose()
            };
            params.push(Param {
                loc: loc.clone(),
                name: cells[start].to_string(),
                required,
                ty: cells[ty_at].to_string(),
                min: number("Minimum:")?,
                max: number("Maximum:")?,
                values: description
                    .iter()
                    .filter_map(|l| l.strip_prefix('•'))
                    .map(|v| v.trim().to_string())
                    .collect(),
                default: description.iter().find_map(|l| {
                    let rest = l.strip_prefix("The default ")?;
                    let (_, value) = rest.split_once(" is ")?;
                    Some(value.trim_end_matches('.').to_string())
                }),
                description: description
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            });
        }
        i = end;
    }

    // Examples: one request, then "Status code: N", its description, its body.
    let responses_at = find("Example Responses")?;
    let mut at = examples_at + 1;
    while at < responses_at && !lines[at].starts_with('{') {
        at += 1;
    }
    let request_example = json_block(&lines, &mut at)?;
    let codes_at = find("Status Codes")?;
    let mut response_examples = vec![];
    let mut at = responses_at + 1;
    while at < codes_at {
        if let Some(code) = lines[at].strip_prefix("Status code: ") {
            let code: u16 = code.parse().map_err(|e| format!("{file}: {code}: {e}"))?;
            at += 1;
            while at < codes_at && !lines[at].starts_with('{') {
                at += 1;
            }
            response_examples.push((code, json_block(&lines, &mut at)?));
        } else {
            at += 1;
        }
    }

    // The Status Codes table: pairs of (code, description) up to "Error Codes".
    let mut statuses = vec![];
    let mut at = codes_at + 1;
    while at + 1 < lines.len() && !lines[at].starts_with("Error Codes") {
        if let Ok(code) = lines[at].parse::<u16>() {
            statuses.push((code, lines[at + 1].to_string()));
            at += 2;
        } else {
            at += 1;
        }
    }

    Ok(Page {
        file: file.to_string(),
        title,
        function,
        method: method.to_ascii_lowercase(),
        path: path.to_string(),
        params,
        statuses,
        request_example,
        response_examples,
    })
}

// ---------------------------------------------------------------------------------------------
// Finding the facts in the document

fn load_document() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/roma-assets.yaml");
    let text = std::fs::read_to_string(&path).expect("reading openapi/roma-assets.yaml");
    yaml_serde::from_str(&text).expect("parsing openapi/roma-assets.yaml")
}

/// Follows `$ref`s (Reference Objects and schema references alike) to the target.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                node = doc
                    .pointer(r.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("dangling $ref {r}"))
            }
            None => return node,
        }
    }
    panic!("$ref chain too long")
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Collects the problems of one page against the document.
struct Checker<'a> {
    doc: &'a Value,
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, what: String) {
        self.problems.push(what);
    }

    fn expect_eq(&mut self, at: &str, what: &str, found: &Value, expected: &Value) {
        if found != expected {
            self.fail(format!("{at}: {what} is {found}, the seed says {expected}"));
        }
    }

    fn expect_description(&mut self, at: &str, found: &[&Value], expected: &str) {
        let expected = normalize(expected);
        if !found
            .iter()
            .filter_map(|d| d.as_str())
            .any(|d| normalize(d).contains(&expected))
        {
            self.fail(format!("{at}: no description says {expected:?}"));
        }
    }

    /// Type, limits, values and default of a schema against a seed row. For the token the
    /// limits are the security scheme's x-min-length / x-max-length (see the document).
    fn expect_schema(&mut self, at: &str, schema: &Value, p: &Param, limits: (&str, &str)) {
        let schema = resolve(self.doc, schema);
        match p.ty.as_str() {
            "String" => {
                self.expect_eq(at, "type", &schema["type"], &json!("string"));
                if schema.get("format") == Some(&json!("binary")) {
                    self.fail(format!("{at}: a String is a file (format: binary)"));
                }
            }
            "File" => {
                self.expect_eq(at, "type", &schema["type"], &json!("string"));
                self.expect_eq(at, "format", &schema["format"], &json!("binary"));
            }
            array if array.starts_with("Array of ") => {
                self.expect_eq(at, "type", &schema["type"], &json!("array"));
                let items = resolve(self.doc, &schema["items"]);
                self.expect_eq(at, "items' type", &items["type"], &json!("object"));
            }
            other => self.fail(format!(
                "{at}: seed type {other} is not handled by this test"
            )),
        }
        if let Some(min) = p.min {
            self.expect_eq(at, limits.0, &schema[limits.0], &json!(min));
        }
        if let Some(max) = p.max {
            self.expect_eq(at, limits.1, &schema[limits.1], &json!(max));
        }
        if !p.values.is_empty() {
            self.expect_eq(at, "enum", &schema["enum"], &json!(p.values));
        }
        if let Some(default) = &p.default {
            self.expect_eq(at, "default", &schema["default"], &json!(default));
        }
    }

    fn check_page(&mut self, page: &Page) {
        let doc = self.doc;
        let Some(item) = doc["paths"].get(&page.path) else {
            return self.fail(format!("{}: no path {}", page.file, page.path));
        };
        let Some(op) = item.get(&page.method) else {
            return self.fail(format!("{}: no {} {}", page.file, page.method, page.path));
        };
        let name = format!("{} {}", page.method.to_uppercase(), page.path);
        self.expect_eq(&name, "summary", &op["summary"], &json!(page.title));
        for sentence in &page.function {
            self.expect_description(&format!("{name} function"), &[&op["description"]], sentence);
        }
        if page
            .function
            .iter()
            .any(|s| s.starts_with("A maximum of 100"))
            && page.request_example.get("apps").is_some()
        {
            // Export: the sentence is machine-readable too (apps + tasks together at most 100).
            let schema = resolve(
                doc,
                &op["requestBody"]["content"]["application/json"]["schema"],
            );
            self.expect_eq(
                &format!("{name} request body"),
                "x-max-combined-items",
                &schema["x-max-combined-items"],
                &json!({"properties": ["apps", "tasks"], "max": 100}),
            );
        }

        let parameters: Vec<&Value> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| resolve(doc, p))
            .collect();
        let request_body = resolve(doc, &op["requestBody"]);
        for p in &page.params {
            let at = format!("{name} {:?} {}", p.loc, p.name);
            match &p.loc {
                Loc::Path | Loc::Query => {
                    let wanted = if p.loc == Loc::Path { "path" } else { "query" };
                    let Some(param) = parameters
                        .iter()
                        .find(|q| q["name"] == p.name.as_str() && q["in"] == wanted)
                    else {
                        self.fail(format!("{at}: no {wanted} parameter {}", p.name));
                        continue;
                    };
                    let required = param["required"].as_bool().unwrap_or(false);
                    self.expect_eq(&at, "required", &json!(required), &json!(p.required));
                    self.expect_schema(&at, &param["schema"], p, ("minLength", "maxLength"));
                    let schema = resolve(doc, &param["schema"]);
                    self.expect_description(
                        &at,
                        &[&param["description"], &schema["description"]],
                        &p.description,
                    );
                }
                Loc::Header => self.check_header(&at, op, p),
                Loc::Body | Loc::Item(_) | Loc::FormData => {
                    let media = if p.loc == Loc::FormData {
                        "multipart/form-data"
                    } else {
                        "application/json"
                    };
                    let mut schema = resolve(doc, &request_body["content"][media]["schema"]);
                    if schema.is_null() {
                        self.fail(format!("{at}: no {media} request body"));
                        continue;
                    }
                    if p.required == Some(true) {
                        self.expect_eq(
                            &at,
                            "requestBody.required",
                            &request_body["required"],
                            &json!(true),
                        );
                    }
                    if let Loc::Item(array) = &p.loc {
                        schema = resolve(doc, &resolve(doc, &schema["properties"][array])["items"]);
                    }
                    self.check_property(&at, schema, p);
                }
                Loc::Response(status) => {
                    let response = resolve(doc, &op["responses"][status.to_string()]);
                    let schema = resolve(doc, &response["content"]["application/json"]["schema"]);
                    if schema.is_null() {
                        self.fail(format!("{at}: no application/json body for {status}"));
                        continue;
                    }
                    self.check_property(&at, schema, p);
                }
            }
        }

        for (status, description) in &page.statuses {
            let response = resolve(doc, &op["responses"][status.to_string()]);
            if response.is_null() {
                self.fail(format!("{name}: status {status} is not declared"));
                continue;
            }
            self.expect_eq(
                &format!("{name} {status}"),
                "description",
                &response["description"],
                &json!(description),
            );
        }

        let content = &request_body["content"];
        let found = content
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, media)| examples(media).contains(&&page.request_example));
        if !found {
            self.fail(format!(
                "{name}: the seed's request example is not an example of the request body"
            ));
        }
        for (status, example) in &page.response_examples {
            let response = resolve(doc, &op["responses"][status.to_string()]);
            if !examples(&response["content"]["application/json"]).contains(&example) {
                self.fail(format!(
                    "{name}: the seed's {status} example is not an example of that response"
                ));
            }
        }
    }

    /// The token: a header security scheme the operation requires (no anonymous alternative).
    fn check_header(&mut self, at: &str, op: &Value, p: &Param) {
        let doc = self.doc;
        let security = op.get("security").unwrap_or(&doc["security"]);
        let requirements: Vec<&Value> = security.as_array().into_iter().flatten().collect();
        let scheme = requirements.iter().find_map(|req| {
            req.as_object()?.keys().find_map(|name| {
                let scheme = &doc["components"]["securitySchemes"][name];
                (scheme["in"] == "header" && scheme["name"] == p.name.as_str()).then_some(scheme)
            })
        });
        let Some(scheme) = scheme else {
            // A plain header parameter would do as well.
            return self.fail(format!("{at}: no security scheme for header {}", p.name));
        };
        let optional = requirements
            .iter()
            .any(|r| r.as_object().is_some_and(|m| m.is_empty()));
        self.expect_eq(at, "required", &json!(!optional), &json!(p.required));
        self.expect_eq(at, "type", &scheme["type"], &json!("apiKey"));
        if let Some(min) = p.min {
            self.expect_eq(at, "x-min-length", &scheme["x-min-length"], &json!(min));
        }
        if let Some(max) = p.max {
            self.expect_eq(at, "x-max-length", &scheme["x-max-length"], &json!(max));
        }
        let description = normalize(scheme["description"].as_str().unwrap_or(""));
        for limit in [
            p.min.map(|m| format!("Minimum: {m}")),
            p.max.map(|m| format!("Maximum: {m}")),
        ]
        .into_iter()
        .flatten()
        {
            if !description.contains(&limit) {
                self.fail(format!(
                    "{at}: the scheme's description does not say {limit:?}"
                ));
            }
        }
        self.expect_description(at, &[&scheme["description"]], &p.description);
    }

    fn check_property(&mut self, at: &str, object: &Value, p: &Param) {
        let Some(property) = object["properties"].get(&p.name) else {
            return self.fail(format!("{at}: no property {}", p.name));
        };
        if let Some(required) = p.required {
            let listed = object["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(p.name)));
            self.expect_eq(at, "required", &json!(listed), &json!(required));
        }
        self.expect_schema(at, property, p, ("minLength", "maxLength"));
        let resolved = resolve(self.doc, property);
        self.expect_description(
            at,
            &[&property["description"], &resolved["description"]],
            &p.description,
        );
    }
}

/// The example values of a Media Type Object (`example` and every `examples.*.value`).
fn examples(media: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = media.get("example").into_iter().collect();
    out.extend(
        media["examples"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, e)| e.get("value")),
    );
    out
}

fn problems(doc: &Value) -> Vec<String> {
    let mut checker = Checker {
        doc,
        problems: vec![],
    };
    for page in seed_pages() {
        checker.check_page(&page);
    }
    checker.problems
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn the_document_states_every_fact_of_the_seed_pages() {
    let found = problems(&load_document());
    assert!(
        found.is_empty(),
        "the document departs from the seed pages:\n{}",
        found.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(seeds_present),
    ignore = "the seed pages are not beside this checkout (../shared/seeds or ROMA_SEEDS_DIR)"
)]
fn the_fact_table_is_what_the_seed_pages_say() {
    let dir = seeds_dir();
    for expected in seed_pages() {
        let path = dir.join(&expected.file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let parsed = parse_page(&expected.file, &text).unwrap_or_else(|e| panic!("{e}"));
        // Row by row first, so a difference names its row.
        for (n, (p, e)) in parsed.params.iter().zip(&expected.params).enumerate() {
            assert_eq!(p, e, "{}: parameter row {n}", expected.file);
        }
        assert_eq!(
            parsed, expected,
            "{}: the fact table differs from the page",
            expected.file
        );
    }
}

/// Mutations of the document that loosen, tighten or drop one seed fact each: every one must be
/// flagged, naming the place. Without this the checker above could pass by finding nothing.
#[test]
fn every_kind_of_departure_from_the_seeds_is_flagged() {
    let doc = load_document();
    assert!(
        problems(&doc).is_empty(),
        "the unmutated document must pass"
    );
    type Mutation = fn(&mut Value);
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "project_id maxLength loosened to 128",
            |d| d["components"]["schemas"]["ProjectId"]["maxLength"] = json!(128),
            "Path project_id: maxLength",
        ),
        (
            "instance_id minLength tightened to 1",
            |d| d["components"]["schemas"]["InstanceId"]["minLength"] = json!(1),
            "Path instance_id: minLength",
        ),
        (
            "token x-max-length loosened",
            |d| d["components"]["securitySchemes"]["token"]["x-max-length"] = json!(200000),
            "x-max-length",
        ),
        (
            "token made optional",
            |d| d["security"] = json!([{"token": []}, {}]),
            "X-Auth-Token: required",
        ),
        (
            "mode loses Merge",
            |d| d["components"]["schemas"]["ImportAssetMode"]["enum"] = json!(["AddNew"]),
            "Query mode: enum",
        ),
        (
            "mode default changed",
            |d| d["components"]["schemas"]["ImportAssetMode"]["default"] = json!("Merge"),
            "Query mode: default",
        ),
        (
            "prefix parameter dropped",
            |d| {
                let params = d["paths"]["/v2/{project_id}/instances/{instance_id}/assets/import"]["post"]["parameters"].as_array_mut().unwrap();
                params.retain(|p| p["name"] != "prefix");
            },
            "no query parameter prefix",
        ),
        (
            "apps no longer required",
            |d| d["components"]["schemas"]["AssetExportRequest"]["required"] = json!([]),
            "Body apps: required",
        ),
        (
            "tasks made required",
            |d| {
                d["components"]["schemas"]["AssetExportRequest"]["required"] =
                    json!(["apps", "tasks"])
            },
            "Body tasks: required",
        ),
        (
            "apps[].id made an integer",
            |d| {
                d["components"]["schemas"]["AssetExportRequestApps"]["properties"]["id"]["type"] =
                    json!("integer")
            },
            "Item(\"apps\") id: type",
        ),
        (
            "the file part is no longer binary",
            |d| {
                d["components"]["schemas"]["ImportAssetRequestBody"]["properties"]["ImportAssetRequestBody"]
                    ["format"] = json!("byte")
            },
            "format",
        ),
        (
            "job_id loses its minLength",
            |d| {
                d["components"]["schemas"]["ImportAssetResponse"]["properties"]["job_id"]
                    .as_object_mut()
                    .unwrap()
                    .remove("minLength");
            },
            "Response(200) job_id: minLength",
        ),
        (
            "error_details maxLength loosened",
            |d| {
                d["components"]["schemas"]["ErrorResp"]["properties"]["error_details"]["maxLength"] =
                    json!(256)
            },
            "error_details: maxLength",
        ),
        (
            "403 dropped from ExportAsset",
            |d| {
                d["paths"]["/v2/{project_id}/instances/{instance_id}/assets/export"]["post"]["responses"].as_object_mut().unwrap().remove("403");
            },
            "status 403 is not declared",
        ),
        (
            "403 described otherwise",
            |d| d["components"]["responses"]["Forbidden"]["description"] = json!("Denied"),
            "403: description",
        ),
        (
            "export request example changed",
            |d| {
                d["paths"]["/v2/{project_id}/instances/{instance_id}/assets/export"]["post"]["requestBody"]
                    ["content"]["application/json"]["example"]["tasks"] = json!([]);
            },
            "request example",
        ),
        (
            "403 example changed",
            |d| {
                d["components"]["responses"]["Forbidden"]["content"]["application/json"]["example"]
                    ["error_msg"] = json!("Error summary")
            },
            "403 example",
        ),
        (
            "combined limit raised",
            |d| {
                d["components"]["schemas"]["AssetExportRequest"]["x-max-combined-items"]["max"] =
                    json!(200)
            },
            "x-max-combined-items",
        ),
        (
            "a function sentence dropped",
            |d| {
                d["paths"]["/v2/{project_id}/instances/{instance_id}/assets/import"]["post"]["description"] =
                    json!("Imports.");
            },
            "function: no description says",
        ),
        (
            "summary renamed",
            |d| {
                d["paths"]["/v2/{project_id}/instances/{instance_id}/assets/export"]["post"]["summary"] =
                    json!("Export")
            },
            "summary",
        ),
    ];
    for (what, mutate, expected) in cases {
        let mut bad = doc.clone();
        mutate(&mut bad);
        let found = problems(&bad);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem mentioning {expected:?}, got {found:#?}"
        );
    }
}

#[test]
fn the_seed_parser_reads_a_table_row_with_limits_bullets_and_a_default() {
    let page = "Updated on x\n\nT\n\nFunction\n\n  • One. - Two.\n\nURI\n\nGET /p\n\n\
        Table 1 Query Parameters\n\nParameter\n\nMandatory\n\nType\n\nDescription\n\n\
        mode\n\nNo\n\nString\n\nMode.\n\n  • A\n\n  • B\n\nThe default mode is A.\n\nMinimum: 0\n\nMaximum: 9\n\n\
        Response Parameters\n\nStatus code: 200\n\nTable 2 Response body parameters\n\nParameter\n\nType\n\nDescription\n\n\
        id\n\nString\n\nID.\n\n\
        Example Requests\n\nGET https://x/p\n\n{\n  \"a\" : 1\n}\n\nExample Responses\n\nStatus code: 200\n\nOK\n\n{ \"id\" : \"x\" }\n\n\
        Status Codes\n\nStatus Code\n\nDescription\n\n200\n\nOK\n\nError Codes\n\nSee Error Codes.";
    let parsed = parse_page("t.txt", page).unwrap();
    assert_eq!(parsed.title, "T");
    assert_eq!(parsed.function, ["One.", "Two."]);
    assert_eq!(
        (parsed.method.as_str(), parsed.path.as_str()),
        ("get", "/p")
    );
    assert_eq!(
        parsed.params,
        [
            param(
                Loc::Query,
                "mode",
                Some(false),
                "String",
                Some((0, 9)),
                &["A", "B"],
                Some("A"),
                "Mode."
            ),
            string(Loc::Response(200), "id", None, None, "ID."),
        ]
    );
    assert_eq!(parsed.request_example, json!({"a": 1}));
    assert_eq!(parsed.response_examples, [(200, json!({"id": "x"}))]);
    assert_eq!(parsed.statuses, [(200, "OK".to_string())]);
}
