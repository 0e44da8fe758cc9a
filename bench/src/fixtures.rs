//! Packages the benchmarks import: written with the server's own package writer, so they are
//! valid by construction, with task settings of a chosen size.

use std::path::Path;

use roma_assets::service::model::{AppAsset, TaskAsset};
use roma_assets::service::package::{ManifestSource, write_package};

/// `apps` apps and `tasks` tasks (task `i` belongs to app `i % apps`), named `{stem}-app-N` and
/// `{stem}-task-N`, each task's source and target holding `setting_chars` random alphanumeric
/// characters (which Deflate shrinks to about 3/4).
pub fn assets(
    stem: &str,
    apps: usize,
    tasks: usize,
    setting_chars: usize,
) -> (Vec<AppAsset>, Vec<TaskAsset>) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut blob = |n: usize| -> String { (0..n).map(|_| rng.alphanumeric()).collect() };
    let app_list: Vec<AppAsset> = (0..apps)
        .map(|i| AppAsset {
            id: format!("{stem}-app-{i:03}"),
            name: format!("{stem}-app-{i:03}"),
            description: format!("benchmark application {i}"),
        })
        .collect();
    let task_list: Vec<TaskAsset> = (0..tasks)
        .map(|i| TaskAsset {
            id: format!("{stem}-task-{i:03}"),
            name: format!("{stem}-task-{i:03}"),
            app_id: format!("{stem}-app-{:03}", i % apps.max(1)),
            task_type: Default::default(),
            task_tag: String::new(),
            source: serde_json::json!({"type": "mysql", "table": format!("t{i}"), "blob": blob(setting_chars)}),
            target: serde_json::json!({"type": "kafka", "topic": format!("topic{i}"), "blob": blob(setting_chars)}),
        })
        .collect();
    (app_list, task_list)
}

/// Writes a package of `apps` and `tasks` to `path`; returns its size in bytes.
pub fn write(path: &Path, apps: &[AppAsset], tasks: &[TaskAsset]) -> Result<u64, String> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let source = ManifestSource {
        project_id: "bench".to_string(),
        instance_id: "fixtures".to_string(),
    };
    write_package(
        std::io::BufWriter::new(file),
        source,
        apps,
        tasks,
        chrono::Utc::now(),
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roma_assets::service::package::{PackageLimits, read_package};

    #[test]
    fn fixture_packages_read_back_with_their_assets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.zip");
        let (apps, tasks) = assets("fx", 2, 3, 100);
        write(&path, &apps, &tasks).unwrap();
        let package = read_package(&path, &PackageLimits::default()).unwrap();
        assert_eq!(package.apps, apps);
        assert_eq!(package.tasks, tasks);
        assert_eq!(package.tasks[2].app_id, "fx-app-000");
    }
}
