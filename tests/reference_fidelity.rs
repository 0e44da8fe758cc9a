//! Reference fidelity: the operations around the seed pages (ListApps, CheckRomaAppDetails,
//! ListTasks, DeleteAsset, ListInstances) state what Huawei's ROMA Connect API reference pages
//! say of them: path, method, every query parameter with its type, bounds, default and enum, and
//! every response field with its type and bounds. The facts are transcribed below from the
//! reference pages (ListRomaApp, CheckRomaAppDetails, ListTasks, DeleteAsset,
//! CheckRomaInstanceListV2) and, where a page is silent, the official SDK's models; where the
//! two disagree the page is followed and the document says so (see each operation's
//! description). A mutation test proves the checker flags a dropped or loosened fact.

use serde_json::{Value, json};

/// A query or path parameter as the page gives it: name, type, (min, max) as length or value
/// bounds, default, enum.
struct Param {
    name: &'static str,
    ty: &'static str,
    bounds: (Option<f64>, Option<f64>),
    default: Option<Value>,
    values: &'static [&'static str],
}

const fn param(name: &'static str, ty: &'static str) -> Param {
    Param {
        name,
        ty,
        bounds: (None, None),
        default: None,
        values: &[],
    }
}

fn bounded(name: &'static str, ty: &'static str, min: f64, max: f64) -> Param {
    Param {
        bounds: (Some(min), Some(max)),
        ..param(name, ty)
    }
}

/// A response or body field: name, type, bounds (length, value or item count), enum.
struct Field {
    name: &'static str,
    ty: &'static str,
    bounds: (Option<f64>, Option<f64>),
    values: &'static [&'static str],
}

const fn field(name: &'static str, ty: &'static str) -> Field {
    Field {
        name,
        ty,
        bounds: (None, None),
        values: &[],
    }
}

fn sized(name: &'static str, ty: &'static str, min: f64, max: f64) -> Field {
    Field {
        bounds: (Some(min), Some(max)),
        ..field(name, ty)
    }
}

struct Operation {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    query: Vec<Param>,
    /// (schema reached from the 200 answer by this JSON pointer-ish route, its fields).
    answer: Vec<(&'static str, Vec<Field>)>,
    /// The request body's fields, if any.
    body: Vec<Field>,
}

fn server_app_info() -> Vec<Field> {
    vec![
        field("id", "string"),
        sized("name", "string", 1.0, 256.0),
        sized("remark", "string", 0.0, 255.0),
        field("roles", "array"),
        field("create_time", "string"),
        field("update_time", "string"),
        field("created_user", "object"),
        field("last_updated_user", "object"),
        field("owner", "boolean"),
        sized("key", "string", 3.0, 200.0),
        field("favorite", "boolean"),
    ]
}

fn facts() -> Vec<Operation> {
    let id64 = |name| bounded(name, "string", 1.0, 64.0);
    vec![
        Operation {
            id: "ListApps",
            method: "get",
            path: "/v2/{project_id}/instances/{instance_id}/apps",
            query: vec![
                Param {
                    default: Some(json!(0)),
                    ..bounded("offset", "integer", 0.0, 10000.0)
                },
                Param {
                    default: Some(json!(10)),
                    ..bounded("limit", "integer", 1.0, 500.0)
                },
                param("favorite", "boolean"),
                bounded("auth_role", "string", 0.0, 64.0),
                bounded("name", "string", 0.0, 256.0),
                param("owner", "boolean"),
                bounded("user_name", "string", 0.0, 64.0),
            ],
            answer: vec![
                (
                    "",
                    vec![
                        field("total", "integer"),
                        field("size", "integer"),
                        field("apps", "array"),
                    ],
                ),
                ("apps[]", server_app_info()),
            ],
            body: vec![],
        },
        Operation {
            id: "CheckRomaAppDetails",
            method: "get",
            path: "/v2/{project_id}/instances/{instance_id}/apps/{app_id}",
            query: vec![],
            answer: vec![("", server_app_info())],
            body: vec![],
        },
        Operation {
            id: "ListTasks",
            method: "get",
            path: "/v2/{project_id}/fdi/instances/{instance_id}/tasks",
            query: vec![
                bounded("limit", "integer", 1.0, 1000.0),
                bounded("offset", "integer", 0.0, 20000.0),
                id64("task_id"),
                id64("task_name"),
                bounded("status", "integer", 0.0, 1.0),
                Param {
                    values: &["realtime", "timing"],
                    ..param("task_type", "string")
                },
                id64("source_datasource_id"),
                id64("target_datasource_id"),
                id64("datasource_id"),
                Param {
                    values: &["CREATED_DATE", "STATUS"],
                    ..param("sort_field", "string")
                },
                Param {
                    values: &["ASC", "DESC"],
                    ..param("sort_type", "string")
                },
                Param {
                    values: &[
                        "UNSTARTED",
                        "WAITING",
                        "RUNNING",
                        "SUCCESS",
                        "CANCELLED",
                        "ERROR",
                    ],
                    ..param("execute_status", "string")
                },
                id64("source_app_id"),
                id64("target_app_id"),
                id64("task_tag"),
                param("task_mode", "string"),
            ],
            answer: vec![
                (
                    "",
                    vec![
                        sized("total", "integer", 0.0, 1000000.0),
                        sized("size", "integer", 0.0, 1000.0),
                        field("entities", "array"),
                    ],
                ),
                (
                    "entities[]",
                    vec![
                        sized("task_id", "string", 1.0, 64.0),
                        sized("task_name", "string", 1.0, 64.0),
                        Field {
                            values: &["REALTIME", "TIMING"],
                            ..field("task_type", "string")
                        },
                        sized("status", "integer", 0.0, 1.0),
                        field("created_date", "string"),
                        sized("version", "string", 0.0, 10.0),
                        field("last_modified_time", "integer"),
                        field("execute_status", "string"),
                        sized("source_app_id", "string", 1.0, 64.0),
                        sized("target_app_id", "string", 1.0, 64.0),
                        sized("source_instance_id", "string", 1.0, 64.0),
                        sized("target_instance_id", "string", 1.0, 64.0),
                        sized("ext_type", "string", 1.0, 64.0),
                        sized("enterprise_project_id", "string", 1.0, 64.0),
                        field("task_tag", "string"),
                    ],
                ),
            ],
            body: vec![],
        },
        Operation {
            id: "DeleteAsset",
            method: "post",
            path: "/v2/{project_id}/instances/{instance_id}/assets/delete",
            query: vec![],
            answer: vec![("", vec![sized("job_id", "string", 1.0, 128.0)])],
            body: vec![
                sized("apps", "array", 0.0, 100.0),
                sized("tasks", "array", 0.0, 100.0),
            ],
        },
        Operation {
            id: "ListInstances",
            method: "get",
            path: "/v2/{project_id}/instances",
            query: vec![
                bounded("status", "string", 3.0, 128.0),
                Param {
                    default: Some(json!(0)),
                    ..bounded("offset", "integer", 0.0, 100.0)
                },
                Param {
                    default: Some(json!(10)),
                    ..bounded("limit", "integer", 0.0, 100.0)
                },
            ],
            answer: vec![
                (
                    "",
                    vec![
                        field("total", "integer"),
                        field("size", "integer"),
                        field("instances", "array"),
                    ],
                ),
                (
                    "instances[]",
                    vec![
                        field("id", "string"),
                        field("name", "string"),
                        field("description", "string"),
                        field("flavor_id", "string"),
                        field("flavor_type", "string"),
                        Field {
                            values: &["x86_64", "aarch64"],
                            ..field("cpu_arch", "string")
                        },
                        field("vpc_id", "string"),
                        field("subnet_id", "string"),
                        field("security_group_id", "string"),
                        field("publicip_enable", "boolean"),
                        field("publicip_id", "string"),
                        field("publicip_address", "string"),
                        field("status", "string"),
                        sized("error_code", "string", 1.0, 128.0),
                        sized("error_msg", "string", 1.0, 512.0),
                        Field {
                            values: &["prePaid", "postPaid"],
                            ..field("charge_type", "string")
                        },
                        field("project_id", "string"),
                        field("create_time", "string"),
                        field("update_time", "string"),
                        field("maintain_begin", "string"),
                        field("maintain_end", "string"),
                        field("available_zone_ids", "array"),
                        field("enterprise_project_id", "string"),
                    ],
                ),
            ],
            body: vec![],
        },
    ]
}

fn document() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/roma-assets.yaml"
    ))
    .expect("reading the document");
    yaml_serde::from_str(&text).expect("parsing the document")
}

/// `node` with a local `$ref` followed.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(doc, doc.pointer(pointer).unwrap_or(&Value::Null))
        }
        None => node,
    }
}

/// The bounds a schema states for its kind: lengths, values or item counts.
fn bounds_of(schema: &Value) -> (Option<f64>, Option<f64>) {
    let pick = |keys: [&str; 3]| {
        keys.iter()
            .find_map(|k| schema.get(*k).and_then(Value::as_f64))
    };
    (
        pick(["minLength", "minimum", "minItems"]),
        pick(["maxLength", "maximum", "maxItems"]),
    )
}

fn enum_of(schema: &Value) -> Vec<String> {
    let values = schema.get("enum").or_else(|| schema.pointer("/items/enum"));
    values
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn check_field(doc: &Value, at: &str, object: &Value, f: &Field, problems: &mut Vec<String>) {
    let Some(schema) = object.pointer(&format!("/properties/{}", f.name)) else {
        return problems.push(format!("{at}: no field {}", f.name));
    };
    let schema = resolve(doc, schema);
    if schema["type"] != f.ty {
        problems.push(format!(
            "{at}.{}: type {} (the page: {})",
            f.name, schema["type"], f.ty
        ));
    }
    if f.bounds != (None, None) && bounds_of(schema) != f.bounds {
        problems.push(format!(
            "{at}.{}: bounds {:?} (the page: {:?})",
            f.name,
            bounds_of(schema),
            f.bounds
        ));
    }
    if !f.values.is_empty() && enum_of(schema) != f.values {
        problems.push(format!(
            "{at}.{}: values {:?} (the page: {:?})",
            f.name,
            enum_of(schema),
            f.values
        ));
    }
}

/// Every difference between the document and the facts, named.
fn problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for op in facts() {
        let at = op.id;
        let Some(operation) = doc["paths"][op.path].get(op.method) else {
            problems.push(format!("{at}: no {} {}", op.method, op.path));
            continue;
        };
        if operation["operationId"] != op.id {
            problems.push(format!("{at}: operationId {}", operation["operationId"]));
        }
        let params: Vec<&Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(doc, p))
            .collect();
        for p in &op.query {
            let Some(found) = params
                .iter()
                .find(|q| q["name"] == p.name && q["in"] == "query")
            else {
                problems.push(format!("{at}: no query parameter {}", p.name));
                continue;
            };
            let schema = resolve(doc, &found["schema"]);
            if schema["type"] != p.ty {
                problems.push(format!(
                    "{at} {}: type {} (the page: {})",
                    p.name, schema["type"], p.ty
                ));
            }
            if p.bounds != (None, None) && bounds_of(schema) != p.bounds {
                problems.push(format!(
                    "{at} {}: bounds {:?} (the page: {:?})",
                    p.name,
                    bounds_of(schema),
                    p.bounds
                ));
            }
            if p.default.is_some() && schema.get("default") != p.default.as_ref() {
                problems.push(format!(
                    "{at} {}: default {:?} (the page: {:?})",
                    p.name,
                    schema.get("default"),
                    p.default
                ));
            }
            if !p.values.is_empty() && enum_of(schema) != p.values {
                problems.push(format!(
                    "{at} {}: values {:?} (the page: {:?})",
                    p.name,
                    enum_of(schema),
                    p.values
                ));
            }
        }
        let answer = resolve(
            doc,
            &operation["responses"]["200"]["content"]["application/json"]["schema"],
        );
        for (route, fields) in &op.answer {
            let object = match route.strip_suffix("[]") {
                None => answer,
                Some(list) => resolve(doc, &answer["properties"][list]["items"]),
            };
            for f in fields {
                check_field(doc, &format!("{at} 200 {route}"), object, f, &mut problems);
            }
        }
        if !op.body.is_empty() {
            let body = resolve(
                doc,
                &operation["requestBody"]["content"]["application/json"]["schema"],
            );
            for f in &op.body {
                check_field(doc, &format!("{at} body"), body, f, &mut problems);
                let required = body["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!(f.name)));
                if !required {
                    problems.push(format!(
                        "{at} body: {} is not required (the page: required)",
                        f.name
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn the_asset_family_states_what_the_reference_pages_say() {
    let found = problems(&document());
    assert!(
        found.is_empty(),
        "the document departs from the reference pages:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_delete_example_is_the_pages_verbatim() {
    let doc = document();
    let example = &doc["paths"]["/v2/{project_id}/instances/{instance_id}/assets/delete"]["post"]["requestBody"]
        ["content"]["application/json"]["example"];
    assert_eq!(
        example,
        &json!({
            "apps": [{"id": "b1e6b1e6-4f3f-4a80-bb45-f4b9039f95a3"}, {"id": "b2e6b145-4f3f-4a80-aa45-f4b8029f95a4"}],
            "tasks": [{"id": "b2e6a456-1234-4a80-aa45-f4b8029f95a4"}, {"id": "123456648-4f3f-4a80-aa45-f4b00005a42"}],
        })
    );
}

/// A change to the document that a check must flag.
type Mutation = Box<dyn Fn(&mut Value)>;

#[test]
fn every_kind_of_departure_from_the_pages_is_flagged() {
    let doc = document();
    assert!(problems(&doc).is_empty(), "the baseline must pass");
    let apps = "/paths/~1v2~1{project_id}~1instances~1{instance_id}~1apps/get";
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "ListApps limit loosened",
            Box::new(move |d: &mut Value| {
                *d.pointer_mut(&format!("{apps}/parameters/1/schema/maximum"))
                    .expect("ListApps' limit") = json!(1000);
            }),
        ),
        (
            "ListApps favorite dropped",
            Box::new(move |d: &mut Value| {
                d.pointer_mut(&format!("{apps}/parameters"))
                    .and_then(Value::as_array_mut)
                    .expect("ListApps' parameters")
                    .remove(2);
            }),
        ),
        (
            "ServerAppInfo key bound changed",
            Box::new(|d: &mut Value| {
                d["components"]["schemas"]["ServerAppInfo"]["properties"]["key"]["minLength"] =
                    json!(1);
            }),
        ),
        (
            "BriefTaskRespBean task_type value dropped",
            Box::new(|d: &mut Value| {
                d["components"]["schemas"]["BriefTaskRespBean"]["properties"]["task_type"]["enum"] =
                    json!(["REALTIME"]);
            }),
        ),
        (
            "DeleteAsset tasks no longer required",
            Box::new(|d: &mut Value| {
                d["components"]["schemas"]["AssetOperateRequest"]["required"] = json!(["apps"]);
            }),
        ),
        (
            "ListTasks on the old path",
            Box::new(|d: &mut Value| {
                let paths = d["paths"].as_object_mut().unwrap();
                let item = paths
                    .remove("/v2/{project_id}/fdi/instances/{instance_id}/tasks")
                    .unwrap();
                paths.insert(
                    "/v2/{project_id}/instances/{instance_id}/tasks".into(),
                    item,
                );
            }),
        ),
        (
            "ListInstances default limit changed",
            Box::new(|d: &mut Value| {
                d["paths"]["/v2/{project_id}/instances"]["get"]["parameters"][2]["schema"]["default"] =
                    json!(20);
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut changed = doc.clone();
        mutate(&mut changed);
        assert!(!problems(&changed).is_empty(), "not flagged: {what}");
    }
}
