//! What `linewatch check` does with a status document: parse it, judge
//! every link and one by name, render the plugin output. Arbitrary bytes
//! give UNKNOWN, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewatch::mode::check::{judge_doc, outcome_of, Target, Thresholds};
use linewatch::status::StatusDoc;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<StatusDoc>(data) else {
        return;
    };
    let thresholds = Thresholds::default();
    for target in [Target::All, Target::Link("visa-primary".into())] {
        for now in [doc.written_at, doc.written_at + 1.0, 0.0, f64::MAX] {
            let r = judge_doc(&doc, now, &target, None, &thresholds);
            let _ = outcome_of(r).render();
        }
    }
});
