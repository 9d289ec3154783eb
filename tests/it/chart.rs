//! The Helm chart, rendered by a real `helm template` and checked as parsed YAML: a StatefulSet
//! and a PodDisruptionBudget, flags the binary accepts, probes that never depend on Raft,
//! exactly the least RBAC the code uses in each watch mode, secrets (admin and webhook tokens)
//! only as mounted files.
//!
//! helm comes from `OPENFERO_HELM` (`.ci/chart --helm-path` installs it and prints the path) or
//! PATH. Without it these tests fail: they never pass by skipping.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use openfero::config::{Cli, CliCommand};
use serde::Deserialize;
use serde_yaml::Value;

const NAMESPACE: &str = "monitoring";
/// An admin token only these tests use, and its base64 form as the Secret holds it.
const TOKEN: &str = "chart-test-admin-token-4f9e2c71";
const TOKEN_B64: &str = "Y2hhcnQtdGVzdC1hZG1pbi10b2tlbi00ZjllMmM3MQ==";
/// The same for the webhook token.
const WEBHOOK_TOKEN: &str = "chart-test-webhook-token-8d3a5e07";
const WEBHOOK_TOKEN_B64: &str = "Y2hhcnQtdGVzdC13ZWJob29rLXRva2VuLThkM2E1ZTA3";
/// Every secret value these tests set, plain and base64.
const SECRET_VALUES: [&str; 4] = [TOKEN, TOKEN_B64, WEBHOOK_TOKEN, WEBHOOK_TOKEN_B64];

fn carries_a_secret(s: &str) -> bool {
    SECRET_VALUES.iter().any(|v| s.contains(v))
}

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/openfero")
}

fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENFERO_HELM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "OPENFERO_HELM is `{}`, which is not a file",
            path.display()
        );
        return path;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "helm not found: set OPENFERO_HELM or put helm on PATH \
                 (`.ci/chart --helm-path` installs it and prints its path)"
            )
        })
}

/// The values every rendering starts from: the Secrets a secure install names (the chart
/// refuses to render a cluster without peer TLS and a gossip key). Later `--set`s override them.
const SECURE: &[&str] = &[
    "--set",
    "peerTls.existingSecret=openfero-peer-tls",
    "--set",
    "gossipKey.existingSecret=openfero-gossip",
];

/// `helm template` output (from [`SECURE`] and `args`), or its error text.
fn try_render(args: &[&str]) -> Result<Vec<Value>, String> {
    try_render_from(SECURE, args)
}

/// `helm template` output from the chart's own defaults plus `base` and `args`.
fn try_render_from(base: &[&str], args: &[&str]) -> Result<Vec<Value>, String> {
    let out = Command::new(helm())
        .args(["template", "openfero"])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE])
        .args(base)
        .args(args)
        .output()
        .expect("run helm");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let docs = serde_yaml::Deserializer::from_slice(&out.stdout)
        .map(|d| Value::deserialize(d).expect("helm renders valid YAML"))
        .filter(|v| !v.is_null())
        .collect();
    Ok(docs)
}

fn render(args: &[&str]) -> Vec<Value> {
    try_render(args).unwrap_or_else(|e| panic!("helm template {args:?} failed: {e}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| str_of(x).to_string()).collect())
        .unwrap_or_default()
}

fn container(sts: &Value) -> &Value {
    let containers = sts["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container's args with the kubelet's `$(VAR)` expansion of the downward API values.
fn expanded_args(sts: &Value, pod: &str) -> Vec<String> {
    strings(&container(sts)["args"])
        .into_iter()
        .map(|a| {
            a.replace("$(POD_NAME)", pod)
                .replace("$(POD_NAMESPACE)", NAMESPACE)
                .replace("$(POD_IP)", "192.0.2.3")
        })
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

#[test]
fn default_render_is_a_parallel_statefulset_with_a_pdb_and_flags_the_binary_accepts() {
    let docs = render(&[]);
    let sts = one(&docs, "StatefulSet");
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    assert_eq!(spec["serviceName"], "openfero-headless");
    let claims = spec["volumeClaimTemplates"].as_sequence().expect("claims");
    assert_eq!(claims[0]["metadata"]["name"], "data");
    assert!(
        spec["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("grace period")
            >= 30,
        "long enough for a graceful leave"
    );

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        spec["selector"]["matchLabels"]
    );

    // Headless Service: not-ready pods published, Raft TCP and gossip UDP.
    let services = of_kind(&docs, "Service");
    let headless = services
        .iter()
        .find(|s| s["spec"]["clusterIP"] == "None")
        .expect("a headless Service");
    assert_eq!(headless["metadata"]["name"], "openfero-headless");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    let ports: BTreeSet<(String, String)> = headless["spec"]["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                str_of(&p["name"]).to_string(),
                str_of(&p["protocol"]).to_string(),
            )
        })
        .collect();
    for (name, proto) in [("http", "TCP"), ("raft", "TCP"), ("gossip", "UDP")] {
        assert!(
            ports.contains(&(name.to_string(), proto.to_string())),
            "{ports:?}"
        );
    }
    assert!(
        services
            .iter()
            .any(|s| s["metadata"]["name"] == "openfero" && s["spec"]["clusterIP"] != "None"),
        "a client Service"
    );

    // Downward API.
    let env = container(sts)["env"].as_sequence().expect("env");
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_IP", "status.podIP"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("env {name}"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], field);
    }

    // The args, expanded as the kubelet does, are flags `openfero` accepts and validates.
    let args = expanded_args(sts, "openfero-1");
    let cli = Cli::try_parse_from(std::iter::once("openfero".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("openfero rejects the chart's args {args:?}: {e}"));
    let CliCommand::Serve(serve) = cli.into_command() else {
        panic!("the chart runs `openfero serve`");
    };
    serve.validate().expect("valid settings");
    assert_eq!(serve.node_name(), "openfero-1");
    assert_eq!(openfero::cluster::ordinal_of(&serve.node_name()), Some(1));
    assert_eq!(serve.bootstrap_expect, 3);
    assert_eq!(
        serve.seeds,
        vec!["openfero-headless.monitoring.svc.cluster.local:7946"]
    );
    assert_eq!(
        serve.gossip_advertise.map(|a| a.to_string()).as_deref(),
        Some("192.0.2.3:7946")
    );
    assert_eq!(
        serve.raft_advertise.as_deref(),
        Some("openfero-1.openfero-headless.monitoring.svc.cluster.local:8081"),
        "a stable name: Raft membership keeps the address"
    );
    assert_eq!(serve.data_dir, PathBuf::from("/var/lib/openfero"));
    assert!(serve.watch_namespaces.is_empty(), "own namespace");
    assert!(serve.admin_token_file.is_none());
    assert!(serve.webhook_token_file.is_none(), "the webhook is open");
    let mount = container(sts)["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "data")
        .expect("data mount");
    assert_eq!(mount["mountPath"], "/var/lib/openfero");
}

#[test]
fn startup_and_liveness_never_depend_on_raft_and_readiness_is_gossip() {
    let mut renders = vec![render(&[])];
    for values in ci_values_files() {
        renders.push(render(&["--values", values.to_str().expect("utf-8 path")]));
    }
    for docs in renders {
        let c = container(one(&docs, "StatefulSet"));
        for probe in ["startupProbe", "livenessProbe"] {
            assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
            assert_eq!(c[probe]["httpGet"]["port"], "http", "{probe}");
        }
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"], "/readyz?leader=false",
            "ready = serving and joined to gossip, not `has a leader`"
        );
        let ports = c["ports"].as_sequence().expect("ports");
        assert!(ports
            .iter()
            .any(|p| p["name"] == "http" && p["containerPort"] == 8080));
    }
}

/// (apiGroup, resource, verb) triples of a Role or ClusterRole.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_sequence().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// What src/kubernetes/ calls, nothing more: Jobs created, read after a 409, listed and
/// watched; pods listed and their log read; Operarius objects listed and watched, their
/// status merge-patched; events.k8s.io Events created and patched (kube-runtime's Recorder).
fn least_privileges() -> BTreeSet<(String, String, String)> {
    [
        ("batch", "jobs", "create"),
        ("batch", "jobs", "get"),
        ("batch", "jobs", "list"),
        ("batch", "jobs", "watch"),
        ("", "pods", "list"),
        ("", "pods/log", "get"),
        ("openfero.io", "operariuses", "list"),
        ("openfero.io", "operariuses", "watch"),
        ("openfero.io", "operariuses/status", "patch"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
    ]
    .into_iter()
    .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
    .collect()
}

#[test]
fn rbac_is_exactly_the_least_set_in_each_watch_mode() {
    let least = least_privileges();
    let bound_sa = |binding: &Value| {
        let subjects = binding["subjects"].as_sequence().expect("subjects");
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0]["kind"], "ServiceAccount");
        assert_eq!(subjects[0]["name"], "openfero");
        assert_eq!(subjects[0]["namespace"], NAMESPACE);
    };

    // The release namespace.
    let docs = render(&[]);
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    let role = one(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    assert_eq!(grants(role), least);
    bound_sa(one(&docs, "RoleBinding"));
    assert_eq!(
        one(&docs, "StatefulSet")["spec"]["template"]["spec"]["serviceAccountName"],
        "openfero"
    );

    // A list: a Role and a RoleBinding in each, none elsewhere.
    let docs = render(&["--set", "watchNamespaces={shop,payments}"]);
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    let roles = of_kind(&docs, "Role");
    let in_ns: BTreeSet<&str> = roles
        .iter()
        .map(|r| str_of(&r["metadata"]["namespace"]))
        .collect();
    assert_eq!(in_ns, BTreeSet::from(["shop", "payments"]));
    for r in &roles {
        assert_eq!(grants(r), least);
    }
    let bindings = of_kind(&docs, "RoleBinding");
    assert_eq!(bindings.len(), 2);
    bindings.iter().for_each(|b| bound_sa(b));
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-0");
    assert_eq!(flag(&args, "watch-namespaces"), Some("shop,payments"));

    // Every namespace: a ClusterRole.
    let docs = render(&["--set", "watchNamespaces={*}"]);
    assert!(of_kind(&docs, "Role").is_empty());
    assert_eq!(grants(one(&docs, "ClusterRole")), least);
    bound_sa(one(&docs, "ClusterRoleBinding"));
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-0");
    assert_eq!(flag(&args, "watch-namespaces"), Some("*"));
}

/// Every string under `v` (keys and values).
fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| all_strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            all_strings(k, out);
            all_strings(v, out);
        }),
        Value::Tagged(t) => all_strings(&t.value, out),
        _ => {}
    }
}

/// No token is visible in the pod spec, and the one `--<flag>` names is the file `key` of a
/// read-only mount of Secret `secret`.
fn assert_token_only_as_a_file(docs: &[Value], flag_name: &str, secret: &str, key: &str) {
    let sts = one(docs, "StatefulSet");
    let c = container(sts);
    let mut visible = Vec::new();
    all_strings(&c["args"], &mut visible);
    all_strings(&c["command"], &mut visible);
    all_strings(&c["env"], &mut visible);
    all_strings(&sts["spec"]["template"]["metadata"], &mut visible);
    for s in &visible {
        assert!(
            !carries_a_secret(s),
            "a token is visible in the pod spec: `{s}`"
        );
    }
    assert!(c["envFrom"].is_null(), "no envFrom");
    for e in c["env"].as_sequence().expect("env") {
        assert!(
            e["valueFrom"]["secretKeyRef"].is_null(),
            "no secret in env: {e:?}"
        );
    }
    let args = expanded_args(sts, "openfero-0");
    let file = flag(&args, flag_name).unwrap_or_else(|| panic!("--{flag_name}"));
    let (dir, name) = file.rsplit_once('/').expect("a path");
    assert_eq!(name, key);
    let mount = c["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("the token's folder is mounted");
    assert_eq!(mount["readOnly"], true);
    let volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    assert_eq!(volume["secret"]["secretName"], secret);
}

/// Nothing but a Secret carries a token.
fn assert_only_secrets_carry_tokens(docs: &[Value]) {
    for d in docs.iter().filter(|d| d["kind"] != "Secret") {
        let mut found = Vec::new();
        all_strings(d, &mut found);
        assert!(
            !found.iter().any(|s| carries_a_secret(s)),
            "a token leaks into a {:?}",
            d["kind"]
        );
    }
}

#[test]
fn admin_token_is_a_mounted_file_never_in_args_or_env() {
    // Chart-managed Secret.
    let docs = render(&["--set", &format!("adminToken.value={TOKEN}")]);
    let secret = one(&docs, "Secret");
    assert_eq!(secret["data"]["token"], TOKEN_B64);
    assert_token_only_as_a_file(
        &docs,
        "admin-token-file",
        str_of(&secret["metadata"]["name"]),
        "token",
    );
    assert_only_secrets_carry_tokens(&docs);

    // An existing Secret: the chart creates none.
    let docs = render(&[
        "--set",
        "adminToken.existingSecret=ops-openfero",
        "--set",
        "adminToken.key=admin",
    ]);
    assert!(of_kind(&docs, "Secret").is_empty());
    assert_token_only_as_a_file(&docs, "admin-token-file", "ops-openfero", "admin");

    // Secrets cannot be smuggled in as flags.
    let err = try_render(&["--set", "extraArgs[0]=--admin-token-file=/x"])
        .expect_err("refused by the schema");
    assert!(err.contains("extraArgs"), "{err}");
}

/// The Secret named `name` (one of the chart's).
fn secret_named<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    of_kind(docs, "Secret")
        .into_iter()
        .find(|s| s["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("Secret {name}"))
}

#[test]
fn webhook_token_is_a_mounted_file_never_in_args_or_env() {
    // Chart-managed, beside a chart-managed admin token: one Secret each.
    let docs = render(&[
        "--set",
        &format!("adminToken.value={TOKEN}"),
        "--set",
        &format!("webhookToken.value={WEBHOOK_TOKEN}"),
    ]);
    assert_eq!(of_kind(&docs, "Secret").len(), 2);
    let hook = secret_named(&docs, "openfero-webhook-token");
    assert_eq!(hook["data"]["token"], WEBHOOK_TOKEN_B64);
    assert_eq!(
        secret_named(&docs, "openfero-admin-token")["data"]["token"],
        TOKEN_B64
    );
    assert_token_only_as_a_file(
        &docs,
        "webhook-token-file",
        "openfero-webhook-token",
        "token",
    );
    assert_token_only_as_a_file(&docs, "admin-token-file", "openfero-admin-token", "token");
    assert_only_secrets_carry_tokens(&docs);

    // The binary accepts the flag, at the path the mount provides.
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    let cli = Cli::try_parse_from(std::iter::once("openfero".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("openfero rejects the chart's args {args:?}: {e}"));
    let CliCommand::Serve(serve) = cli.into_command() else {
        panic!("the chart runs `openfero serve`");
    };
    assert_eq!(
        serve.webhook_token_file,
        Some(PathBuf::from("/etc/openfero/webhook/token"))
    );

    // A new token rolls the pods (the file is read at start).
    let annotation = |docs: &[Value]| {
        one(docs, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
            ["checksum/webhook-token"]
            .clone()
    };
    let rotated = render(&["--set", "webhookToken.value=another-webhook-token"]);
    assert!(annotation(&docs).is_string(), "a checksum annotation");
    assert_ne!(annotation(&docs), annotation(&rotated));

    // An existing Secret and key: the chart creates none.
    let docs = render(&[
        "--set",
        "webhookToken.existingSecret=alertmanager-openfero",
        "--set",
        "webhookToken.key=hook",
    ]);
    assert!(of_kind(&docs, "Secret").is_empty());
    assert_token_only_as_a_file(&docs, "webhook-token-file", "alertmanager-openfero", "hook");
    assert!(annotation(&docs).is_null(), "nothing to hash");

    // Not both; and no way around the Secret through extraArgs.
    let err = try_render(&[
        "--set",
        &format!("webhookToken.value={WEBHOOK_TOKEN}"),
        "--set",
        "webhookToken.existingSecret=alertmanager-openfero",
    ])
    .expect_err("value and existingSecret");
    assert!(err.contains("not both"), "{err}");
    let err = try_render(&["--set", "extraArgs[0]=--webhook-token-file=/x"])
        .expect_err("refused by the schema");
    assert!(err.contains("extraArgs"), "{err}");
}

#[test]
fn the_gossip_keyring_comes_from_an_existing_secret_as_a_file() {
    let docs = render(&[
        "--set",
        "gossipKey.existingSecret=openfero-gossip",
        "--set",
        "gossipKey.key=keys",
    ]);
    assert_token_only_as_a_file(&docs, "gossip-key-file", "openfero-gossip", "keys");
    let plain = try_render_from(&["--set", "insecureCluster=true"], &[]).expect("insecure");
    let args = expanded_args(one(&plain, "StatefulSet"), "openfero-0");
    assert!(
        flag(&args, "gossip-key-file").is_none(),
        "no keyring unless one is given"
    );
    let err = try_render(&["--set", "extraArgs[0]=--gossip-key-file=/x"])
        .expect_err("refused by the schema");
    assert!(err.contains("extraArgs"), "{err}");
}

#[test]
fn the_defaults_refuse_an_insecure_cluster_and_say_how_to_fix_it() {
    let err = try_render_from(&[], &[]).expect_err("no peer TLS, no gossip key");
    assert!(err.contains("peer TLS is required"), "{err}");
    let err = try_render_from(&["--set", "peerTls.existingSecret=x"], &[]).expect_err("no key");
    assert!(err.contains("a gossip key is required"), "{err}");
    let docs = try_render_from(&["--set", "insecureCluster=true"], &[]).expect("at one's risk");
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-0");
    assert!(args.iter().any(|a| a == "--insecure-cluster"), "{args:?}");
    let secure = render(&[]);
    let args = expanded_args(one(&secure, "StatefulSet"), "openfero-0");
    assert!(!args.iter().any(|a| a == "--insecure-cluster"), "{args:?}");
}

#[test]
fn peer_tls_comes_from_a_secret_or_cert_manager_as_files() {
    let docs = render(&[]);
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    assert_eq!(
        flag(&args, "peer-tls-ca-file"),
        Some("/etc/openfero/peer-tls/ca.crt")
    );
    assert_eq!(
        flag(&args, "peer-tls-cert-file"),
        Some("/etc/openfero/peer-tls/tls.crt")
    );
    assert_eq!(
        flag(&args, "peer-tls-key-file"),
        Some("/etc/openfero/peer-tls/tls.key")
    );
    assert!(
        flag(&args, "raft-addr").is_some(),
        "peer TLS has its own listener"
    );
    let volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "peer-tls")
        .expect("the peer-tls volume");
    assert_eq!(volume["secret"]["secretName"], "openfero-peer-tls");
    assert!(of_kind(&docs, "Certificate").is_empty());

    let docs = render(&[
        "--set",
        "peerTls.existingSecret=",
        "--set",
        "certManager.enabled=true",
        "--set",
        "certManager.issuerRef.name=openfero-ca",
    ]);
    let cert = one(&docs, "Certificate");
    let secret = str_of(&cert["spec"]["secretName"]).to_string();
    let usages = strings(&cert["spec"]["usages"]);
    assert!(
        usages.contains(&"server auth".to_string()) && usages.contains(&"client auth".to_string())
    );
    let names = strings(&cert["spec"]["dnsNames"]);
    assert!(
        names.iter().any(|n| n.starts_with("*.openfero-headless.")),
        "{names:?}"
    );
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    let pattern = flag(&args, "peer-tls-san-pattern").expect("a SAN pattern with cert-manager");
    assert!(pattern.starts_with("*.openfero-headless."), "{pattern}");
    let volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "peer-tls")
        .expect("the peer-tls volume");
    assert_eq!(volume["secret"]["secretName"], secret.as_str());

    let err = try_render(&["--set", "certManager.enabled=true"]).expect_err("both");
    assert!(err.contains("not both"), "{err}");
    let err = try_render(&["--set", "extraArgs[0]=--insecure-cluster"]).expect_err("schema");
    assert!(err.contains("extraArgs"), "{err}");
}

#[test]
fn api_tls_is_optional_and_switches_probes_and_scrapes_to_https() {
    let docs = render(&[]);
    let c = container(one(&docs, "StatefulSet"));
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], Value::Null);
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-0");
    assert_eq!(flag(&args, "tls-cert-file"), None, "plain http by default");

    let docs = render(&[
        "--set",
        "apiTls.existingSecret=openfero-api-tls",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.tlsConfig.serverName=openfero",
    ]);
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    assert_eq!(
        flag(&args, "tls-cert-file"),
        Some("/etc/openfero/api-tls/tls.crt")
    );
    assert_eq!(
        flag(&args, "tls-key-file"),
        Some("/etc/openfero/api-tls/tls.key")
    );
    let c = container(sts);
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    let volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "api-tls")
        .expect("the api-tls volume");
    assert_eq!(volume["secret"]["secretName"], "openfero-api-tls");
    let endpoint = &one(&docs, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["tlsConfig"]["serverName"], "openfero");
}

#[test]
fn the_network_policy_is_on_by_default_and_keeps_raft_and_gossip_to_the_release() {
    let docs = render(&[]);
    let np = one(&docs, "NetworkPolicy");
    let rules = np["spec"]["ingress"].as_sequence().expect("ingress");
    for rule in rules {
        let ports: Vec<String> = rule["ports"]
            .as_sequence()
            .expect("ports")
            .iter()
            .map(|p| str_of(&p["port"]).to_string())
            .collect();
        if ports.iter().any(|p| p == "raft" || p == "gossip") {
            assert!(
                rule["from"][0]["podSelector"]["matchLabels"].is_mapping(),
                "raft and gossip only from the release's pods: {rule:?}"
            );
        }
    }
}

#[test]
fn the_auth_file_and_the_webhook_basic_auth_are_mounted_files_never_flags() {
    let docs = render(&[
        "--set",
        "auth.existingSecret=openfero-users",
        "--set",
        "webhookBasicAuth.existingSecret=alertmanager-basic",
        "--set",
        "webhookBasicAuth.key=credentials",
    ]);
    assert!(of_kind(&docs, "Secret").is_empty(), "existing Secrets only");
    assert_token_only_as_a_file(&docs, "auth-file", "openfero-users", "auth.yaml");
    assert_token_only_as_a_file(
        &docs,
        "webhook-basic-auth-file",
        "alertmanager-basic",
        "credentials",
    );
    // The binary accepts the flags at the paths the mounts provide.
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-0");
    let cli = Cli::try_parse_from(std::iter::once("openfero".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("openfero rejects the chart's args {args:?}: {e}"));
    let CliCommand::Serve(serve) = cli.into_command() else {
        panic!("the chart runs `openfero serve`");
    };
    assert_eq!(
        serve.auth.auth_file,
        Some(PathBuf::from("/etc/openfero/auth/auth.yaml"))
    );
    assert_eq!(
        serve.auth.webhook_basic_auth_file,
        Some(PathBuf::from("/etc/openfero/webhook-basic/credentials"))
    );
    // Neither by default.
    let plain = render(&[]);
    let args = expanded_args(one(&plain, "StatefulSet"), "openfero-0");
    assert!(flag(&args, "auth-file").is_none());
    assert!(flag(&args, "webhook-basic-auth-file").is_none());
    // No way around the Secrets through extraArgs.
    for smuggled in [
        "extraArgs[0]=--auth-file=/x",
        "extraArgs[0]=--webhook-basic-auth-file=/x",
    ] {
        let err = try_render(&["--set", smuggled]).expect_err("refused by the schema");
        assert!(err.contains("extraArgs"), "{smuggled}: {err}");
    }
}

#[test]
fn pods_run_locked_down() {
    let docs = render(&[]);
    let sts = one(&docs, "StatefulSet");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &container(sts)["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(strings(&sc["capabilities"]["drop"]), vec!["ALL"]);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
}

#[test]
fn unsafe_values_are_refused_with_the_reason() {
    for (set, reason) in [
        ("replicaCount=4", "odd number of voters"),
        ("podDisruptionBudget.maxUnavailable=2", "quorum"),
        ("cluster.maxVoters=4", "maxVoters"),
        ("cluster.bootstrapExpect=5", "never form"),
        ("watchNamespaces={*,shop}", "cannot be combined"),
    ] {
        let err = try_render(&["--set", set]).expect_err(set);
        assert!(err.contains(reason), "{set}: {err}");
    }
    // Scaling to 5 with the bootstrap expectation pinned, and a PDB of 2 for 5 voters, are fine.
    let docs = render(&[
        "--set",
        "replicaCount=5,cluster.bootstrapExpect=3,podDisruptionBudget.maxUnavailable=2",
    ]);
    let args = expanded_args(one(&docs, "StatefulSet"), "openfero-4");
    assert_eq!(flag(&args, "bootstrap-expect"), Some("3"));
}

fn ci_values_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .expect("charts/openfero/ci")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "CI values files exist");
    files
}

#[test]
fn monitoring_objects_scrape_every_pod_and_alert_on_real_metrics() {
    let docs = render(&[
        "--set",
        "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true",
    ]);
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"]["openfero.io/service"], "headless",
        "not-ready pods are scraped too"
    );
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    let rules = one(&docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
        .as_sequence()
        .expect("rules");
    let by_name = |name: &str| -> String {
        let rule = rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("alert {name}"));
        str_of(&rule["expr"]).to_string()
    };
    assert!(by_name("OpenferoDown").contains("up{job=\"openfero-headless\""));
    assert!(by_name("OpenferoNoLeader").contains("sum(openfero_raft_is_leader{"));
    assert!(by_name("OpenferoRemediationsFailing")
        .contains("openfero_remediations_total{job=\"openfero-headless\", namespace=\"monitoring\", outcome=\"failed\"}"));
    assert!(by_name("OpenferoRemediationLoop").contains("sum by (operarius)"));
    // The metrics and labels the rules use are the ones openfero exports.
    let metrics = openfero::metrics::Metrics::new();
    metrics
        .remediations
        .get_or_create(&openfero::metrics::RemediationLabels {
            operarius: "restart".into(),
            outcome: "failed".into(),
        })
        .inc();
    let text = metrics.encode();
    assert!(
        text.contains("# TYPE openfero_raft_is_leader gauge"),
        "{text}"
    );
    assert!(
        text.contains("openfero_remediations_total{operarius=\"restart\",outcome=\"failed\"} 1"),
        "{text}"
    );
}

#[test]
fn guard_rails_become_flags_and_a_policy_file_the_binary_accepts() {
    let docs = render(&[
        "--set",
        "guardRails.mode=shadow",
        "--set",
        "guardRails.budgetGlobal={100/1h,500/24h}",
        "--set-json",
        r#"guardRails.policy={"allowedImages":["registry.example.com/*"],"maxActiveDeadlineSeconds":900,"forbidHostPath":false}"#,
    ]);
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    assert_eq!(flag(&args, "mode"), Some("shadow"));
    assert_eq!(flag(&args, "budget-global"), Some("100/1h,500/24h"));
    assert_eq!(
        flag(&args, "policy-file"),
        Some("/etc/openfero/policy/policy.yaml")
    );
    let cli = Cli::try_parse_from(std::iter::once("openfero".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("openfero rejects the chart's args {args:?}: {e}"));
    let CliCommand::Serve(serve) = cli.into_command() else {
        panic!("the chart runs `openfero serve`");
    };
    assert_eq!(serve.mode, Some(openfero::operarios::Mode::Shadow));
    assert_eq!(serve.budget_global.len(), 2);
    assert!(
        sts["spec"]["template"]["metadata"]["annotations"]["checksum/policy"].is_string(),
        "a policy change rolls the pods (it is read at start)"
    );

    // The ConfigMap holds a policy openfero loads, mounted where the flag points.
    let cm = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| str_of(&c["metadata"]["name"]).ends_with("-policy"))
        .expect("the policy ConfigMap");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, str_of(&cm["data"]["policy.yaml"])).expect("write");
    let policy = openfero::operarios::load_policy(&file).expect("openfero loads the policy");
    assert_eq!(policy.max_active_deadline_seconds, Some(900));
    assert!(policy.forbid_privileged && !policy.forbid_host_path);
    let mounts = container(sts)["volumeMounts"]
        .as_sequence()
        .expect("mounts");
    assert!(mounts
        .iter()
        .any(|m| m["name"] == "policy" && m["mountPath"] == "/etc/openfero/policy"));

    // A mode the binary does not know, or an unknown policy rule, is refused by the schema.
    assert!(try_render(&["--set", "guardRails.mode=yolo"]).is_err());
    assert!(try_render(&["--set-json", r#"guardRails.policy={"allowImages":[]}"#]).is_err());
    // None of it by default.
    let plain = render(&[]);
    let args = expanded_args(one(&plain, "StatefulSet"), "openfero-0");
    assert!(flag(&args, "mode").is_none() && flag(&args, "policy-file").is_none());
    assert!(of_kind(&plain, "ConfigMap").is_empty());
}

#[test]
fn alertmanager_follow_ups_become_flags_and_a_mounted_credentials_file() {
    let docs = render(&[
        "--set",
        "alertmanager.urls={http://am-0.monitoring:9093,http://am-1.monitoring:9093}",
        "--set",
        "alertmanager.existingSecret=am-creds",
    ]);
    let sts = one(&docs, "StatefulSet");
    let args = expanded_args(sts, "openfero-0");
    assert_eq!(
        flag(&args, "alertmanager-url"),
        Some("http://am-0.monitoring:9093,http://am-1.monitoring:9093")
    );
    assert_eq!(
        flag(&args, "alertmanager-token-file"),
        Some("/etc/openfero/alertmanager/token")
    );
    let cli = Cli::try_parse_from(std::iter::once("openfero".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("openfero rejects the chart's args {args:?}: {e}"));
    let CliCommand::Serve(serve) = cli.into_command() else {
        panic!("the chart runs `openfero serve`");
    };
    assert_eq!(serve.alertmanager_url.len(), 2);
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes");
    assert!(volumes
        .iter()
        .any(|v| v["secret"]["secretName"] == "am-creds"));
    let mounts = container(sts)["volumeMounts"]
        .as_sequence()
        .expect("mounts");
    assert!(mounts
        .iter()
        .any(|m| m["name"] == "alertmanager-credentials"
            && m["mountPath"] == "/etc/openfero/alertmanager"));
    let basic = render(&[
        "--set",
        "alertmanager.urls={http://am:9093}",
        "--set",
        "alertmanager.existingSecret=am-creds",
        "--set",
        "alertmanager.credentialsKey=basic-auth",
    ]);
    let args = expanded_args(one(&basic, "StatefulSet"), "openfero-0");
    assert_eq!(
        flag(&args, "alertmanager-basic-auth-file"),
        Some("/etc/openfero/alertmanager/basic-auth")
    );
    assert!(
        try_render(&["--set", "alertmanager.urls={am:9093}"]).is_err(),
        "not a URL"
    );
    let plain = render(&[]);
    let args = expanded_args(one(&plain, "StatefulSet"), "openfero-0");
    assert!(flag(&args, "alertmanager-url").is_none());
}

/// The chart's ConfigMaps named `<fullname>-dashboard`.
fn dashboard_config_maps(docs: &[Value]) -> Vec<&Value> {
    of_kind(docs, "ConfigMap")
        .into_iter()
        .filter(|c| str_of(&c["metadata"]["name"]).ends_with("-dashboard"))
        .collect()
}

#[test]
fn the_grafana_dashboard_is_a_labelled_config_map_holding_the_repository_file_when_enabled() {
    assert!(
        dashboard_config_maps(&render(&[])).is_empty(),
        "off by default"
    );
    let file = std::fs::read_to_string(chart_dir().join("dashboards/openfero.json"))
        .expect("charts/openfero/dashboards/openfero.json");

    let docs = render(&["--set", "metrics.grafanaDashboard.enabled=true"]);
    let found = dashboard_config_maps(&docs);
    assert_eq!(found.len(), 1, "one dashboard ConfigMap");
    let cm = found[0];
    assert_eq!(cm["metadata"]["name"], "openfero-dashboard");
    assert_eq!(cm["metadata"]["namespace"], NAMESPACE);
    let labels = &cm["metadata"]["labels"];
    assert_eq!(
        labels["grafana_dashboard"], "1",
        "the label Grafana's sidecar loads"
    );
    assert_eq!(labels["app.kubernetes.io/part-of"], "openfero");
    assert!(cm["metadata"]["annotations"].is_null());
    let data = cm["data"].as_mapping().expect("data");
    assert_eq!(data.len(), 1, "one dashboard: {data:?}");
    let json = str_of(&cm["data"]["openfero.json"]);
    assert_eq!(json, file, "the repository's file, byte for byte");
    let dashboard: serde_json::Value = serde_json::from_str(json).expect("JSON");
    assert_eq!(dashboard["uid"], "openfero");

    // Namespace, labels and annotations from the values; the default label can be dropped.
    let docs = render(&[
        "--set",
        "metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.grafanaDashboard.namespace=grafana",
        "--set",
        "metrics.grafanaDashboard.labels.grafana_dashboard=null",
        "--set",
        "metrics.grafanaDashboard.labels.dashboards=openfero",
        "--set",
        "metrics.grafanaDashboard.annotations.grafana_folder=Self-healing",
    ]);
    let cm = dashboard_config_maps(&docs)[0];
    assert_eq!(cm["metadata"]["namespace"], "grafana");
    assert!(cm["metadata"]["labels"]["grafana_dashboard"].is_null());
    assert_eq!(cm["metadata"]["labels"]["dashboards"], "openfero");
    assert_eq!(
        cm["metadata"]["annotations"]["grafana_folder"],
        "Self-healing"
    );
    assert_eq!(str_of(&cm["data"]["openfero.json"]), file);

    // The schema refuses what is not a setting of it.
    for set in [
        "metrics.grafanaDashboard.enabled=yes",
        "metrics.grafanaDashboard.namespace=Not_A_Namespace",
        "metrics.grafanaDashboard.label.grafana_dashboard=1",
    ] {
        let err = try_render(&["--set", set]).expect_err(set);
        assert!(err.contains("grafanaDashboard"), "{set}: {err}");
    }
}
