#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn resource(plural: &str) -> &'static Resource {
    catalogue::by_plural_only(plural).unwrap()
}

fn store() -> Store {
    let mut store = Store::new();
    store
        .create(
            resource("namespaces"),
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        )
        .unwrap();
    store
}

#[test]
fn create_stamps_and_refuses_a_duplicate() {
    let mut store = store();
    let cm = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
    let created = store
        .create(resource("configmaps"), "default", cm.clone(), false)
        .unwrap();
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(created["metadata"]["uid"].is_string());
    assert_eq!(created["metadata"]["resourceVersion"], "3");
    let again = store.create(resource("configmaps"), "default", cm, false);
    assert_eq!(again.unwrap_err().reason, "AlreadyExists");
}

#[test]
fn create_in_a_missing_namespace_is_not_found() {
    let mut store = store();
    let cm = json!({"metadata": {"name": "a"}});
    let error = store
        .create(resource("configmaps"), "nowhere", cm, false)
        .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[test]
fn dry_run_stores_nothing() {
    let mut store = store();
    let cm = json!({"metadata": {"name": "a"}});
    store
        .create(resource("configmaps"), "default", cm, true)
        .unwrap();
    assert!(store.get(resource("configmaps"), "default", "a").is_none());
    assert_eq!(store.revision(), 2);
}

#[test]
fn update_checks_the_resource_version_and_counts_generations() {
    let mut store = store();
    let cm = json!({"metadata": {"name": "a"}, "spec": {"x": 1}});
    let created = store
        .create(resource("configmaps"), "default", cm, false)
        .unwrap();
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let error = store
        .update(resource("configmaps"), "default", "a", stale, false)
        .unwrap_err();
    assert_eq!(error.reason, "Conflict");
    let mut changed = created.clone();
    changed["spec"]["x"] = json!(2);
    let updated = store
        .update(resource("configmaps"), "default", "a", changed, false)
        .unwrap();
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
}

#[test]
fn generate_name_makes_a_name() {
    let mut store = store();
    let pod = json!({"metadata": {"generateName": "job-"}});
    let created = store
        .create(resource("pods"), "default", pod, false)
        .unwrap();
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("job-") && name.len() == 9, "{name}");
}

#[test]
fn put_creates_the_namespace_and_delete_announces() {
    let mut store = store();
    let mut changes = store.subscribe();
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team"}});
    store.put(resource("pods"), pod).unwrap();
    assert!(store.get(resource("namespaces"), "", "team").is_some());
    store.delete(resource("pods"), "team", "p", false).unwrap();
    let kinds: Vec<_> = std::iter::from_fn(|| changes.try_recv().ok())
        .map(|c| c.kind)
        .collect();
    assert_eq!(
        kinds,
        [ChangeKind::Added, ChangeKind::Added, ChangeKind::Deleted]
    );
    let since: Vec<_> = store
        .changes_since(3)
        .unwrap()
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(since, [4, 5]);
}
