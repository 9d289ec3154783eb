//! Operarius files as `openfero validate`, the catalog and the Kubernetes source read them:
//! one file's text, split into YAML documents, each parsed and validated.
//!
//! Invariants: keys are unique across valid and broken operarios; a valid one's stored Job
//! template parses; both forms survive the Raft codec unchanged (they are replicated); the
//! catalog fingerprint is 64 hex digits and does not depend on the order of the definitions;
//! every problem names a document of the file; selecting and rendering for an alert never
//! panics.
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use openfero::operarios::{
    catalog_fingerprint, load_text, render, select, AlertContext, BrokenOperarius, OperariusDef,
};
use openfero_raft::codec;

fn alert() -> AlertContext {
    let labels: std::collections::BTreeMap<String, String> = [
        ("alertname", "KubePodCrashLooping"),
        ("pod", "web-1"),
        ("namespace", "shop"),
        ("severity", "warning"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    AlertContext {
        status: "firing".into(),
        labels,
        annotations: [("summary".to_owned(), "crash".to_owned())].into(),
        ..AlertContext::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.yaml");
    let report = load_text(file, text, "openfero");

    let mut keys = BTreeSet::new();
    for def in &report.operarios {
        assert!(keys.insert(def.key()), "`{}` twice", def.key());
        def.job_template()
            .unwrap_or_else(|e| panic!("`{}`: stored job template: {e}", def.key()));
        let bytes = codec::encode(def).expect("a definition encodes");
        let back: OperariusDef = codec::decode(&bytes).expect("a definition decodes");
        assert_eq!(&back, def, "the Raft codec changed `{}`", def.key());
    }
    for broken in &report.broken {
        assert!(keys.insert(broken.key()), "`{}` twice", broken.key());
        let bytes = codec::encode(broken).expect("a broken operarius encodes");
        let back: BrokenOperarius = codec::decode(&bytes).expect("a broken operarius decodes");
        assert_eq!(&back, broken, "the Raft codec changed `{}`", broken.key());
    }
    let documents = text.lines().count() + 1;
    for problem in &report.problems {
        assert_eq!(problem.file, file);
        assert!(problem.document < documents, "{problem}");
    }
    let fingerprint = report.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    let mut reversed = report.operarios.clone();
    reversed.reverse();
    let mut broken_reversed = report.broken.clone();
    broken_reversed.reverse();
    assert_eq!(
        catalog_fingerprint(&reversed, &broken_reversed),
        fingerprint,
        "the fingerprint depends on order"
    );

    let alert = alert();
    let _ = select(&report.operarios, &alert);
    for def in &report.operarios {
        let _ = def.matches(&alert);
        let _ = render(def, &alert);
    }
});
