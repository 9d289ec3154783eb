//! The committed CRD is exactly what the Rust types generate.

#[test]
fn committed_crd_matches_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/openfero/crds/operariuses.yaml");
    let committed =
        std::fs::read_to_string(&path).expect("charts/openfero/crds/operariuses.yaml exists");
    let generated = openfero::operarios::crd_yaml();
    assert!(
        committed == generated,
        "{} is out of date: run `cargo run -- crd > charts/openfero/crds/operariuses.yaml`",
        path.display()
    );
}

#[test]
fn crd_subcommand_prints_the_generated_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openfero"))
        .arg("crd")
        .output()
        .expect("run openfero crd");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        openfero::operarios::crd_yaml()
    );
}
