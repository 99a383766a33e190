//! The Datadog files of `contrib/` have the structure Datadog's API takes
//! (`POST /api/v1/monitor`, `POST /api/v1/dashboard`), and every query's
//! threshold agrees with its options. Whether the metrics and checks they
//! name are ones linewatch sends is checked against a running daemon in
//! `tests/live_metrics.rs`.

use serde_json::Value;
use std::path::Path;

fn read(path: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The number a metric alert's query compares with, and how.
fn comparison(query: &str) -> Option<(&str, f64)> {
    let mut words = query.split_whitespace().rev();
    let value = words.next()?.parse().ok()?;
    let op = words.next()?;
    ["<", "<=", ">", ">="].contains(&op).then_some((op, value))
}

#[test]
fn datadog_monitors_are_api_bodies_whose_thresholds_match_their_queries() {
    let monitors = read("contrib/datadog/monitors.json");
    let list = monitors.as_array().expect("an array of monitors");
    assert!(!list.is_empty());
    for m in list {
        let name = m["name"].as_str().expect("name");
        let query = m["query"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: query"));
        assert!(
            m["message"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: a message"
        );
        let options = m["options"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: options"));
        let thresholds = options["thresholds"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: thresholds"));
        match m["type"].as_str() {
            Some("service check") => {
                assert!(
                    query.starts_with("\"linewatch.") && query.ends_with(".count_by_status()"),
                    "{name}: a service check query: {query}"
                );
                for status in ["ok", "warning", "critical"] {
                    assert!(
                        thresholds.get(status).is_some_and(Value::is_u64),
                        "{name}: thresholds.{status} (consecutive checks)"
                    );
                }
            }
            Some("metric alert") => {
                let window = query.split_once(':').map(|(w, _)| w).unwrap_or_default();
                assert!(
                    ["avg(", "sum(", "max(", "min("]
                        .iter()
                        .any(|a| window.starts_with(a))
                        && window.contains("(last_"),
                    "{name}: a time aggregation: {query}"
                );
                let (_, value) =
                    comparison(query).unwrap_or_else(|| panic!("{name}: a comparison: {query}"));
                let critical = thresholds["critical"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: thresholds.critical"));
                assert_eq!(
                    critical, value,
                    "{name}: the critical threshold is the query's"
                );
            }
            other => panic!("{name}: type {other:?}"),
        }
        if options.get("notify_no_data") == Some(&Value::Bool(true)) {
            assert!(
                options["no_data_timeframe"].as_u64().is_some(),
                "{name}: no_data_timeframe with notify_no_data"
            );
        }
    }
}

#[test]
fn the_datadog_dashboard_is_an_api_body() {
    let d = read("contrib/datadog/dashboard.json");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(["ordered", "free"].contains(&d["layout_type"].as_str().unwrap_or_default()));
    let widgets = d["widgets"].as_array().expect("widgets");
    assert!(!widgets.is_empty());
    let variables: Vec<String> = d["template_variables"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|t| t["name"].as_str().map(|n| format!("${n}")))
                .collect()
        })
        .unwrap_or_default();
    for w in widgets {
        let def = &w["definition"];
        let title = def["title"].as_str().expect("each widget has a title");
        match def["type"].as_str() {
            Some("timeseries") => {
                let requests = def["requests"].as_array().expect("requests");
                assert!(!requests.is_empty(), "{title}");
                for r in requests {
                    let q = r["q"].as_str().unwrap_or_else(|| panic!("{title}: q"));
                    assert!(
                        ["line", "bars", "area"]
                            .contains(&r["display_type"].as_str().unwrap_or("line")),
                        "{title}"
                    );
                    // Template variables it uses are declared.
                    for var in q.split(['{', '}', ',']).filter(|s| s.starts_with('$')) {
                        assert!(variables.iter().any(|v| v == var), "{title}: {var}");
                    }
                }
            }
            Some("check_status") => {
                assert!(def["check"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("linewatch.")));
                assert!(
                    ["cluster", "check"].contains(&def["grouping"].as_str().unwrap_or_default())
                );
            }
            other => panic!("{title}: widget type {other:?}"),
        }
    }
}
