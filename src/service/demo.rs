//! The demo data (`serve --demo`, the tests' seeded server): three applications and four tasks
//! with fixed ids, so docs and tests can name them, written through the store's general
//! [`Store::insert_assets`].

use chrono::{SubsecRound, Utc};

use super::model::{App, Scope, Task, TaskAsset, TaskType};
use super::store::{Store, StoreError};

/// Ids of the apps [`seed`] creates (fixed, so docs and tests can name them).
pub const DEMO_APP_IDS: &[&str] = &["demo-app-orders", "demo-app-billing", "demo-app-crm"];

/// Ids of the tasks [`seed`] creates.
pub const DEMO_TASK_IDS: &[&str] = &[
    "demo-task-orders-sync",
    "demo-task-orders-archive",
    "demo-task-billing-export",
    "demo-task-crm-contacts",
];

/// Creates the demo apps ([`DEMO_APP_IDS`]) and tasks ([`DEMO_TASK_IDS`]) in the instance,
/// unless an asset with that id already exists there (then it is left as it is). Fails, writing
/// nothing, if another asset already uses a demo name.
pub fn seed(store: &(impl Store + ?Sized), scope: &Scope) -> Result<(), StoreError> {
    // Cut to the microseconds the store keeps, as its own timestamps are.
    let at = Utc::now().trunc_subsecs(6);
    let apps: Vec<App> = DEMO_APPS
        .iter()
        .map(|&(id, name, description, favorite)| App {
            id: id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            key: App::new_key(),
            favorite,
            created_at: at,
            updated_at: at,
        })
        .collect();
    let tasks: Vec<Task> = demo_tasks()
        .into_iter()
        .map(|(task, running, execute_status)| Task {
            id: task.id,
            name: task.name,
            app_id: task.app_id,
            task_type: task.task_type,
            task_tag: task.task_tag,
            running,
            execute_status: execute_status.to_string(),
            version: 1,
            source: task.source,
            target: task.target,
            created_at: at,
            updated_at: at,
        })
        .collect();
    store.insert_assets(scope, &apps, &tasks)
}

/// The demo apps: id, name, description, favoured. Ids are [`DEMO_APP_IDS`], in that order.
const DEMO_APPS: &[(&str, &str, &str, bool)] = &[
    (
        "demo-app-orders",
        "orders",
        "Order management: the shop's orders and their fulfilment",
        true,
    ),
    (
        "demo-app-billing",
        "billing",
        "Invoicing and payment reconciliation",
        false,
    ),
    (
        "demo-app-crm",
        "crm",
        "Customer relationship management: accounts and contacts",
        false,
    ),
];

/// The demo tasks, ids as in [`DEMO_TASK_IDS`], in that order, each with its run state
/// (started, execution status). Their settings name their data sources (`datasource_id`).
fn demo_tasks() -> Vec<(TaskAsset, bool, &'static str)> {
    use serde_json::json;
    let task =
        |id: &str, name: &str, app_id: &str, task_type, tag: &str, source, target| TaskAsset {
            id: id.to_string(),
            name: name.to_string(),
            app_id: app_id.to_string(),
            task_type,
            task_tag: tag.to_string(),
            source,
            target,
        };
    vec![
        (
            task(
                "demo-task-orders-sync",
                "orders-sync",
                "demo-app-orders",
                TaskType::Realtime,
                "orders",
                json!({"type": "mysql", "datasource_id": "demo-ds-shop-db", "database": "shop",
                       "table": "orders"}),
                json!({"type": "kafka", "datasource_id": "demo-ds-events", "topic": "orders"}),
            ),
            true,
            "RUNNING",
        ),
        (
            task(
                "demo-task-orders-archive",
                "orders-archive",
                "demo-app-orders",
                TaskType::Timing,
                "orders",
                json!({"type": "mysql", "datasource_id": "demo-ds-shop-db", "database": "shop",
                       "table": "orders", "where": "status = 'CLOSED'"}),
                json!({"type": "obs", "datasource_id": "demo-ds-archive", "bucket": "orders-archive",
                       "format": "parquet"}),
            ),
            true,
            "SUCCESS",
        ),
        (
            task(
                "demo-task-billing-export",
                "billing-export",
                "demo-app-billing",
                TaskType::Timing,
                "finance",
                json!({"type": "postgresql", "datasource_id": "demo-ds-billing-db",
                       "schema": "billing", "table": "invoices"}),
                json!({"type": "ftp", "datasource_id": "demo-ds-ftp", "path": "/exports/invoices",
                       "format": "csv"}),
            ),
            false,
            "UNSTARTED",
        ),
        (
            task(
                "demo-task-crm-contacts",
                "crm-contacts",
                "demo-app-crm",
                TaskType::Realtime,
                "",
                json!({"type": "api", "datasource_id": "demo-ds-crm-api", "method": "GET",
                       "url": "https://crm.example.com/api/contacts"}),
                json!({"type": "mysql", "datasource_id": "demo-ds-crm-db", "database": "crm",
                       "table": "contacts"}),
            ),
            false,
            "ERROR",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::testing::{
        all_apps, all_tasks, app, applied, import, names, open, scope,
    };

    #[test]
    fn seeding_twice_changes_nothing() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        seed(&store, &s).expect("seed");
        let apps = all_apps(&store, &s);
        let tasks = all_tasks(&store, &s);
        let mut app_ids = names(&apps, |a| &a.id);
        app_ids.sort();
        let mut expected: Vec<&str> = DEMO_APP_IDS.to_vec();
        expected.sort();
        assert_eq!(app_ids, expected);
        let mut task_ids = names(&tasks, |t| &t.id);
        task_ids.sort();
        let mut expected: Vec<&str> = DEMO_TASK_IDS.to_vec();
        expected.sort();
        assert_eq!(task_ids, expected);
        assert!(
            tasks
                .iter()
                .all(|t| DEMO_APP_IDS.contains(&t.app_id.as_str()))
        );

        seed(&store, &s).expect("seed again");
        assert_eq!(all_apps(&store, &s), apps);
        assert_eq!(all_tasks(&store, &s), tasks);
    }

    #[test]
    fn demo_constants_match_the_seeded_data() {
        let app_ids: Vec<&str> = DEMO_APPS.iter().map(|(id, ..)| *id).collect();
        assert_eq!(app_ids, DEMO_APP_IDS);
        let tasks = demo_tasks();
        let task_ids: Vec<&str> = tasks.iter().map(|(t, ..)| t.id.as_str()).collect();
        assert_eq!(task_ids, DEMO_TASK_IDS);
    }
    #[test]
    fn a_demo_name_taken_by_another_asset_fails_writing_nothing() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        applied(
            import(
                &store,
                &s,
                crate::service::model::ImportMode::AddNew,
                "",
                &[app("mine", "billing")],
                &[],
            )
            .expect("import"),
        );
        let before = (all_apps(&store, &s), all_tasks(&store, &s));
        seed(&store, &s).expect_err("billing is taken");
        assert_eq!((all_apps(&store, &s), all_tasks(&store, &s)), before);
    }
}
