//! An import, applied in one transaction: the apps, then the tasks, each kind by the same
//! routine ([`Half`]): check the assets against one another, look for name conflicts (AddNew),
//! then write each asset over the one of its name (Merge) or as a new row. What differs between
//! apps and tasks is data (table, words of the reasons) and the two statements that write a row.

use std::collections::{HashMap, HashSet};

use super::rows::{new_id, now, ts};
use super::sql::{Conn, values};
use super::{
    CONFLICT_ERROR_CODE, INVALID_PACKAGE_ERROR_CODE, ImportCounts, ImportOutcome, StoreError,
};
use crate::service::model::{
    App, AppAsset, ImportMode, ImportRequest, MAX_REASONS, Reason, ResourceType, Scope, TaskFeed,
};

/// [`super::Store::apply_import`] on one connection, inside a transaction that holds the
/// instance's write lock (so the existence checks below cannot be made stale by another
/// connection before the writes). A rejection returns before anything is written.
pub(super) fn apply(
    tx: &mut dyn Conn,
    scope: &Scope,
    request: &ImportRequest,
    apps: &[AppAsset],
    feed: &mut dyn TaskFeed,
) -> Result<ImportOutcome, StoreError> {
    let heads = feed.heads().to_vec();
    let app_half = Half {
        table: "apps",
        resource: ResourceType::Application,
        one: "an application",
        many: "applications",
        assets: apps
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str(), None))
            .collect(),
    };
    let task_half = Half {
        table: "tasks",
        resource: ResourceType::Task,
        one: "a task",
        many: "tasks",
        assets: heads
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str(), Some(t.app_id.as_str())))
            .collect(),
    };
    let package_apps: HashSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    let prefix = request.prefix.as_str();
    let mut reasons = Vec::new();
    app_half.contradictions(prefix, &package_apps, &mut reasons);
    task_half.contradictions(prefix, &package_apps, &mut reasons);
    if request.mode == ImportMode::AddNew {
        app_half.conflicts(tx, scope, prefix, &mut reasons)?;
        task_half.conflicts(tx, scope, prefix, &mut reasons)?;
    }
    if !reasons.is_empty() {
        reasons.truncate(MAX_REASONS);
        return Ok(ImportOutcome::Rejected(reasons));
    }

    let at = ts(&now());
    let mut counts = ImportCounts::default();
    let (app_ids, created, updated) = app_half.write(tx, scope, request, |tx, index, target| {
        match target {
            Target::Existing(id) => tx.execute(
                "UPDATE apps SET description = ?1, updated_at = ?2
                 WHERE project_id = ?3 AND instance_id = ?4 AND id = ?5",
                values![
                    apps[index].description,
                    at,
                    scope.project_id,
                    scope.instance_id,
                    id
                ],
            )?,
            Target::New { id, name } => tx.execute(
                "INSERT INTO apps (project_id, instance_id, id, name, description,
                                   created_at, updated_at, app_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                values![
                    scope.project_id,
                    scope.instance_id,
                    id,
                    name,
                    apps[index].description,
                    at,
                    App::new_key()
                ],
            )?,
        };
        Ok(())
    })?;
    (counts.apps_created, counts.apps_updated) = (created, updated);
    // package app id -> id of that app in this instance
    let app_ids: HashMap<&str, &str> = apps
        .iter()
        .map(|a| a.id.as_str())
        .zip(app_ids.iter().map(String::as_str))
        .collect();
    let (_, created, updated) = task_half.write(tx, scope, request, |tx, index, target| {
        let head = &heads[index];
        // `contradictions` made sure every task's app is among the apps.
        let Some(app_id) = app_ids.get(head.app_id.as_str()) else {
            return Err(StoreError::NotFound(format!(
                "application {} of task {}",
                head.app_id, head.name
            )));
        };
        // One task's settings in memory at a time: an import's tasks can be large.
        let asset = feed.task(index).map_err(StoreError::Feed)?;
        let (source, target_settings) = (asset.source.to_string(), asset.target.to_string());
        let (task_type, task_tag) = (asset.task_type.as_str(), asset.task_tag.as_str());
        match target {
            Target::Existing(id) => tx.execute(
                "UPDATE tasks SET app_id = ?1, source = ?2, target = ?3, updated_at = ?4,
                                  task_type = ?8, task_tag = ?9, version = version + 1
                 WHERE project_id = ?5 AND instance_id = ?6 AND id = ?7",
                values![
                    app_id,
                    source,
                    target_settings,
                    at,
                    scope.project_id,
                    scope.instance_id,
                    id,
                    task_type,
                    task_tag
                ],
            )?,
            Target::New { id, name } => tx.execute(
                "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source,
                                    target, created_at, updated_at, task_type, task_tag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
                values![
                    scope.project_id,
                    scope.instance_id,
                    id,
                    name,
                    app_id,
                    source,
                    target_settings,
                    at,
                    task_type,
                    task_tag
                ],
            )?,
        };
        Ok(())
    })?;
    (counts.tasks_created, counts.tasks_updated) = (created, updated);
    Ok(ImportOutcome::Applied(counts))
}

/// Where one asset of an import goes.
enum Target<'a> {
    /// Over the instance's asset of its name, which keeps this id (Merge).
    Existing(&'a str),
    /// Into a new row with this id and (prefixed) name.
    New { id: &'a str, name: &'a str },
}

/// One kind of asset of an import.
struct Half<'a> {
    table: &'static str,
    resource: ResourceType,
    /// One asset, for reasons: "an application".
    one: &'static str,
    /// Several: "applications".
    many: &'static str,
    /// Each asset's id and name in the package, and the id of its app (tasks only).
    assets: Vec<(&'a str, &'a str, Option<&'a str>)>,
}

impl Half<'_> {
    /// Assets that contradict one another, whatever the instance holds: two with one id or one
    /// name, a task whose app is not in `apps`. The package reader refuses such packages first
    /// (ROMA.10035, with its own messages); this keeps the store's guarantee for any caller.
    fn contradictions(&self, prefix: &str, apps: &HashSet<&str>, reasons: &mut Vec<Reason>) {
        let (mut ids, mut names) = (HashSet::new(), HashSet::new());
        for &(id, name, app) in &self.assets {
            let mut refuse = |message: &str| {
                reasons.push(Reason::new(
                    self.resource,
                    &format!("{prefix}{name}"),
                    INVALID_PACKAGE_ERROR_CODE,
                    message,
                ));
            };
            if !ids.insert(id) {
                refuse(&format!("the package holds two {} with this id", self.many));
            }
            if !names.insert(name) {
                refuse(&format!(
                    "the package holds two {} with this name",
                    self.many
                ));
            }
            if app.is_some_and(|app| !apps.contains(app)) {
                refuse("the task's application is not in the package");
            }
        }
    }

    /// AddNew: each asset whose prefixed name the instance already uses.
    fn conflicts(
        &self,
        tx: &mut dyn Conn,
        scope: &Scope,
        prefix: &str,
        reasons: &mut Vec<Reason>,
    ) -> Result<(), StoreError> {
        for &(_, name, _) in &self.assets {
            let name = format!("{prefix}{name}");
            if existing_id(tx, self.table, scope, &name)?.is_some() {
                reasons.push(Reason::new(
                    self.resource,
                    &name,
                    CONFLICT_ERROR_CODE,
                    &format!("{} with this name already exists", self.one),
                ));
            }
        }
        Ok(())
    }

    /// Writes every asset through `put` (over the asset of its name in Merge, else as a new
    /// row); returns each one's id in the instance, in order, and how many were created and
    /// updated.
    fn write(
        &self,
        tx: &mut dyn Conn,
        scope: &Scope,
        request: &ImportRequest,
        mut put: impl FnMut(&mut dyn Conn, usize, Target<'_>) -> Result<(), StoreError>,
    ) -> Result<(Vec<String>, u64, u64), StoreError> {
        let (mut ids, mut created, mut updated) = (Vec::with_capacity(self.assets.len()), 0, 0);
        for (index, &(_, name, _)) in self.assets.iter().enumerate() {
            let name = format!("{}{name}", request.prefix);
            let existing = match request.mode {
                ImportMode::AddNew => None,
                ImportMode::Merge => existing_id(tx, self.table, scope, &name)?,
            };
            let id = match existing {
                Some(id) => {
                    put(tx, index, Target::Existing(&id))?;
                    updated += 1;
                    id
                }
                None => {
                    let id = new_id();
                    put(
                        tx,
                        index,
                        Target::New {
                            id: &id,
                            name: &name,
                        },
                    )?;
                    created += 1;
                    id
                }
            };
            ids.push(id);
        }
        Ok((ids, created, updated))
    }
}

/// The id of the asset of `table` (a constant of this module) with this name in the scope.
fn existing_id(
    tx: &mut dyn Conn,
    table: &str,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>, StoreError> {
    super::rows::scoped_lookup(tx, table, "id", "name", scope, name)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{ImportCounts, ImportOutcome};
    use super::*;
    use crate::service::model::AppAsset;

    #[test]
    fn add_new_creates_prefixed_assets_with_new_ids_and_remapped_apps() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            let apps = [app("pa1", "orders"), app("pa2", "billing")];
            let tasks = [
                task("pt1", "orders-sync", "pa1"),
                task("pt2", "invoices", "pa2"),
            ];
            let counts = applied(
                import(store, &s, ImportMode::AddNew, "dev-", &apps, &tasks).expect("import"),
            );
            assert_eq!(
                counts,
                ImportCounts {
                    apps_created: 2,
                    apps_updated: 0,
                    tasks_created: 2,
                    tasks_updated: 0
                }
            );
            let got_apps = all_apps(store, &s);
            assert_eq!(names(&got_apps, |a| &a.name), ["dev-billing", "dev-orders"]);
            assert!(
                got_apps
                    .iter()
                    .all(|a| !a.id.starts_with("pa") && a.id.len() == 32)
            );
            let id_of = |name: &str| {
                got_apps
                    .iter()
                    .find(|a| a.name == name)
                    .map(|a| a.id.clone())
                    .expect("app")
            };
            let got_tasks = all_tasks(store, &s);
            assert_eq!(
                names(&got_tasks, |t| &t.name),
                ["dev-invoices", "dev-orders-sync"]
            );
            assert_eq!(got_tasks[0].app_id, id_of("dev-billing"));
            assert_eq!(got_tasks[1].app_id, id_of("dev-orders"));
            assert_eq!(got_tasks[1].source, tasks[0].source);
            assert_eq!(got_tasks[1].target, tasks[0].target);

            // The same package again with another prefix: new assets beside the first ones.
            applied(import(store, &s, ImportMode::AddNew, "test-", &apps, &tasks).expect("import"));
            assert_eq!(all_apps(store, &s).len(), 4);
            assert_eq!(all_tasks(store, &s).len(), 4);
        }
    }

    #[test]
    fn add_new_conflict_changes_nothing_and_names_each_conflict() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            seed(store, &s).expect("seed");
            let apps_before = all_apps(store, &s);
            let tasks_before = all_tasks(store, &s);
            let apps = [app("x1", "fresh"), app("x2", "orders")];
            let tasks = [
                task("y1", "new-task", "x1"),
                task("y2", "crm-contacts", "x1"),
            ];
            let outcome = import(store, &s, ImportMode::AddNew, "", &apps, &tasks).expect("import");
            assert_eq!(
                outcome,
                ImportOutcome::Rejected(vec![
                    Reason::new(
                        ResourceType::Application,
                        "orders",
                        CONFLICT_ERROR_CODE,
                        "an application with this name already exists"
                    ),
                    Reason::new(
                        ResourceType::Task,
                        "crm-contacts",
                        CONFLICT_ERROR_CODE,
                        "a task with this name already exists"
                    ),
                ])
            );
            assert_eq!(all_apps(store, &s), apps_before);
            assert_eq!(all_tasks(store, &s), tasks_before);

            // Many conflicts: at most MAX_REASONS are reported.
            let many: Vec<AppAsset> = (0..12)
                .map(|n| app(&format!("m{n}"), &format!("m{n}")))
                .collect();
            applied(import(store, &s, ImportMode::AddNew, "", &many, &[]).expect("import"));
            let before = all_apps(store, &s);
            match import(store, &s, ImportMode::AddNew, "", &many, &[]).expect("import") {
                ImportOutcome::Rejected(reasons) => assert_eq!(reasons.len(), MAX_REASONS),
                other => panic!("expected a rejection, got {other:?}"),
            }
            assert_eq!(all_apps(store, &s), before);
        }
    }

    #[test]
    fn a_package_that_contradicts_itself_is_rejected_in_both_modes() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            let apps = [app("a", "one"), app("a", "two")];
            let tasks = [task("t", "orphan", "missing")];
            for mode in [ImportMode::AddNew, ImportMode::Merge] {
                match import(store, &s, mode, "", &apps, &tasks).expect("import") {
                    ImportOutcome::Rejected(reasons) => {
                        assert_eq!(names(&reasons, |r| &r.resource_name), ["two", "orphan"]);
                        assert!(
                            reasons
                                .iter()
                                .all(|r| r.error_code == INVALID_PACKAGE_ERROR_CODE)
                        );
                    }
                    other => panic!("expected a rejection, got {other:?}"),
                }
            }
            assert!(all_apps(store, &s).is_empty());
        }
    }

    #[test]
    fn merge_overwrites_by_name_keeping_ids_and_creates_the_rest() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            seed(store, &s).expect("seed");
            let before_apps = all_apps(store, &s);
            let before_tasks = all_tasks(store, &s);
            // "orders" and task "crm-contacts" exist; the task moves to the package's "orders".
            let apps = [
                AppAsset {
                    id: "pkg-orders".to_string(),
                    name: "orders".to_string(),
                    description: "new description".to_string(),
                },
                app("pkg-new", "warehouse"),
            ];
            let tasks = [
                task("pt1", "crm-contacts", "pkg-orders"),
                task("pt2", "stock-sync", "pkg-new"),
            ];
            let counts =
                applied(import(store, &s, ImportMode::Merge, "", &apps, &tasks).expect("import"));
            assert_eq!(
                counts,
                ImportCounts {
                    apps_created: 1,
                    apps_updated: 1,
                    tasks_created: 1,
                    tasks_updated: 1
                }
            );
            let after_apps = all_apps(store, &s);
            assert_eq!(after_apps.len(), before_apps.len() + 1);
            let orders_before = before_apps
                .iter()
                .find(|a| a.name == "orders")
                .expect("orders");
            let orders = after_apps
                .iter()
                .find(|a| a.name == "orders")
                .expect("orders");
            assert_eq!(orders.id, "demo-app-orders");
            assert_eq!(orders.description, "new description");
            assert_eq!(orders.created_at, orders_before.created_at);
            assert!(orders.updated_at >= orders_before.updated_at);
            let warehouse = after_apps
                .iter()
                .find(|a| a.name == "warehouse")
                .expect("new app");

            let after_tasks = all_tasks(store, &s);
            assert_eq!(after_tasks.len(), before_tasks.len() + 1);
            let contacts = after_tasks
                .iter()
                .find(|t| t.name == "crm-contacts")
                .expect("task");
            assert_eq!(contacts.id, "demo-task-crm-contacts");
            assert_eq!(contacts.app_id, "demo-app-orders");
            assert_eq!(contacts.source, tasks[0].source);
            let stock = after_tasks
                .iter()
                .find(|t| t.name == "stock-sync")
                .expect("task");
            assert_eq!(stock.app_id, warehouse.id);
            // Untouched assets stay as they were.
            for untouched in before_tasks.iter().filter(|t| t.name != "crm-contacts") {
                assert!(after_tasks.contains(untouched), "{untouched:?} changed");
            }
        }
    }
}
