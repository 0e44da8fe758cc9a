//! The package's layout: `manifest.json` ([`Manifest`]) naming the format version and listing
//! every asset with its file and SHA-256, then one JSON file per asset, `apps/<id>.json` and
//! `tasks/<id>.json`. [`manifest_schema`] publishes the manifest's JSON Schema, derived from the
//! same types the reader parses with.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The package layout this module writes, and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the manifest entry.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Folder of the app files.
pub(super) const APPS_DIR: &str = "apps";
/// Folder of the task files.
pub(super) const TASKS_DIR: &str = "tasks";

/// The `manifest.json` of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of the package layout; this reader knows version 1 only.
    #[schemars(range(min = 1, max = 1))]
    pub format_version: u32,
    /// When the package was written (RFC 3339, UTC).
    #[schemars(schema_with = "date_time_schema")]
    pub created_at: DateTime<Utc>,
    /// The instance the assets were exported from.
    pub source: ManifestSource,
    /// Every app of the package, in package order.
    pub apps: Vec<ManifestEntry>,
    /// Every task of the package, in package order.
    pub tasks: Vec<ManifestEntry>,
}

/// Where a package was exported from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Project ID of the exporting instance.
    pub project_id: String,
    /// Instance ID of the exporting instance.
    pub instance_id: String,
}

/// One asset of a package, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The asset's id; equals the `id` inside its file.
    #[schemars(length(min = 1))]
    pub id: String,
    /// The asset's name; equals the `name` inside its file.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The zip entry holding the asset: `apps/….json` for an app, `tasks/….json` for a task.
    #[schemars(regex(pattern = r"^(apps|tasks)/[A-Za-z0-9_.-]+\.json$"))]
    pub file: String,
    /// SHA-256 of the entry's bytes, lowercase hex.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

fn date_time_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        format: Some("date-time".to_string()),
        ..Default::default()
    }
    .into()
}

/// The JSON Schema (draft-07) of [`Manifest`], derived from the same types the reader parses
/// with, so a manifest the reader accepts is one the schema accepts.
pub fn manifest_schema() -> serde_json::Value {
    // Serializing a schemars schema cannot fail: it has string keys only.
    serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
}

/// SHA-256 of an asset file's bytes as the manifest lists it: lowercase hex.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn manifest_schema_describes_the_manifest() {
        let schema = manifest_schema();
        assert_eq!(schema["title"], "Manifest");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .expect("a required list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in ["format_version", "created_at", "source", "apps", "tasks"] {
            assert!(required.contains(&field), "{field} is required");
        }
        assert_eq!(schema["properties"]["created_at"]["format"], "date-time");
        let entry = &schema["definitions"]["ManifestEntry"];
        assert_eq!(entry["properties"]["sha256"]["pattern"], "^[0-9a-f]{64}$");
        assert_eq!(manifest_schema(), schema, "deterministic");
    }
}
