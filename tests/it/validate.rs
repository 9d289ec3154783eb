//! `openfero validate`: every problem with file and document index; non-zero exit on any.

use std::process::Command;

fn validate(args: &[&std::path::Path]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_openfero"))
        .arg("validate")
        .args(args)
        .output()
        .expect("run openfero validate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn shipped_examples_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("operarios");
    let (ok, out) = validate(&[&dir]);
    assert!(ok, "{out}");
    assert!(
        out.contains("7 operarius(es) valid, 0 problem(s), 15 other document(s) skipped"),
        "{out}"
    );
}

#[test]
fn problems_are_reported_with_file_and_document_and_fail_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("mixed.yaml");
    let good = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("operarios/resolved-notify.yaml"),
    )
    .expect("example");
    let bad = good
        .replace("name: resolved-notify", "name: broken")
        .replace("status: resolved", "status: sideways");
    std::fs::write(&file, format!("{good}\n---\n{bad}")).expect("write");
    let (ok, out) = validate(&[&file]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("mixed.yaml#1"),
        "document index 1 named: {out}"
    );
    assert!(out.contains("sideways"), "{out}");
    assert!(out.contains("1 operarius(es) valid, 1 problem(s)"), "{out}");
    let (ok, out) = validate(&[&tmp.path().join("missing.yaml")]);
    assert!(!ok, "{out}");
}

/// OpenFero's all-in-one file: Operarius documents with their RBAC (issue 17).
#[test]
fn a_bundle_with_rbac_validates_and_lists_what_it_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bundle.yaml");
    let op = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("operarios/resolved-notify.yaml"),
    )
    .expect("example");
    let rbac = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: fixer}\n---\n\
                apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: fixer}\nrules: []\n---\n\
                apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: fixer}\n\
                roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: fixer}\nsubjects: []\n";
    std::fs::write(&file, format!("{rbac}---\n{op}")).expect("write");
    let (ok, out) = validate(&[&file]);
    assert!(ok, "{out}");
    assert!(
        out.contains("`v1` `ServiceAccount` `fixer`: not an Operarius, skipped"),
        "{out}"
    );
    assert!(
        out.contains("1 operarius(es) valid, 0 problem(s), 3 other document(s) skipped"),
        "{out}"
    );
}
