//! `serve`'s flags and their checks.

use super::*;

fn serve(args: &[&str]) -> ServeArgs {
    let mut all = vec!["openfero", "serve"];
    all.extend_from_slice(args);
    match Cli::try_parse_from(all).expect("parse").into_command() {
        CliCommand::Serve(s) => *s,
        other => panic!("expected serve, got {other:?}"),
    }
}

#[test]
fn a_cluster_node_without_peer_tls_and_a_gossip_key_refuses_to_start() {
    let cluster = ["--gossip-addr", "127.0.0.1:7946", "--bootstrap-expect", "3"];
    let err = serve(&cluster).validate().expect_err("insecure");
    assert_eq!(err.field, "insecure-cluster");
    assert!(
        err.reason.contains("peer TLS") && err.reason.contains("gossip key"),
        "{err}"
    );
    let mut insecure = cluster.to_vec();
    insecure.push("--insecure-cluster");
    serve(&insecure)
        .validate()
        .expect("accepted at the operator's risk");
    let tls = [
        "--peer-tls-ca-file",
        "ca.pem",
        "--peer-tls-cert-file",
        "n.pem",
        "--peer-tls-key-file",
        "n-key.pem",
    ];
    let mut secure = cluster.to_vec();
    secure.extend_from_slice(&tls);
    secure.extend_from_slice(&["--gossip-key-file", "keys"]);
    let err = serve(&secure).validate().expect_err("no raft listener");
    assert_eq!(err.field, "raft-addr");
    secure.extend_from_slice(&["--raft-addr", "127.0.0.1:9000"]);
    serve(&secure).validate().expect("secure cluster");
    let err = serve(&tls[..4]).validate().expect_err("two of three files");
    assert_eq!(err.field, "peer-tls");
    serve(&[])
        .validate()
        .expect("the embedded default needs neither");
}

#[test]
fn api_tls_needs_both_files_and_in_a_cluster_peer_tls() {
    let err = serve(&["--tls-cert-file", "api.pem"])
        .validate()
        .expect_err("no key");
    assert_eq!(err.field, "tls");
    let both = [
        "--tls-cert-file",
        "api.pem",
        "--tls-key-file",
        "api-key.pem",
    ];
    let args = serve(&both);
    args.validate().expect("the embedded default over https");
    assert_eq!(
        args.api_tls().map(|t| t.key_file),
        Some(PathBuf::from("api-key.pem"))
    );
    let mut cluster = both.to_vec();
    cluster.extend_from_slice(&["--gossip-addr", "127.0.0.1:7946", "--insecure-cluster"]);
    let err = serve(&cluster)
        .validate()
        .expect_err("forwarding would be plain");
    assert_eq!(err.field, "tls");
    assert!(err.reason.contains("peer TLS"), "{err}");
}
#[test]
fn no_subcommand_means_serve_with_defaults() {
    let cli = Cli::try_parse_from(["openfero"]).expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.data_dir, PathBuf::from("./openfero-data"));
    assert_eq!(s.operarios, PathBuf::from("./operarios"));
    assert_eq!(s.body_limit, 5 * 1024 * 1024);
    assert_eq!(s.retention_alerts, 10_000);
    s.validate().expect("defaults are valid");
}

#[test]
fn serve_flags_and_validate_paths_parse() {
    let cli = Cli::try_parse_from([
        "openfero",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--max-concurrent",
        "2",
    ])
    .expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.max_concurrent, 2);
    let cli = Cli::try_parse_from(["openfero", "validate", "a.yaml", "dir"]).expect("parse");
    assert!(matches!(cli.into_command(), CliCommand::Validate(v) if v.paths.len() == 2));
    assert!(Cli::try_parse_from(["openfero", "validate"]).is_err());
}

#[test]
fn invalid_settings_are_named() {
    let cli = Cli::try_parse_from(["openfero", "--max-concurrent", "0"]).expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.validate().expect_err("invalid").field, "max-concurrent");
    let cli = Cli::try_parse_from(["openfero", "--raft-election-min-ms", "100"]).expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.validate().expect_err("invalid").field, "raft");
    let cli = Cli::try_parse_from(["openfero", "--bootstrap-expect", "3"]).expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.validate().expect_err("invalid").field, "bootstrap-expect");
}

#[test]
fn cluster_flags_parse() {
    let cli = Cli::try_parse_from([
        "openfero",
        "serve",
        "--node-name",
        "n1",
        "--listen",
        "127.0.0.1:8081",
        "--raft-addr",
        "127.0.0.1:9081",
        "--gossip-addr",
        "127.0.0.1:7081",
        "--seeds",
        "127.0.0.1:7082,127.0.0.1:7083",
        "--bootstrap-expect",
        "3",
        "--data-dir",
        "./data/n1",
        "--insecure-cluster",
    ])
    .expect("parse");
    let CliCommand::Serve(s) = cli.into_command() else {
        panic!("expected serve");
    };
    assert_eq!(s.node_name(), "n1");
    assert_eq!(s.seeds, vec!["127.0.0.1:7082", "127.0.0.1:7083"]);
    assert_eq!(s.bootstrap_expect, 3);
    s.validate().expect("valid");
}
