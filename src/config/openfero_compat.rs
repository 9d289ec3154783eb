//! OpenFero 0.18's command-line flags (docs/migrating-from-openfero.md).
//!
//! Flags with an openfero equivalent of the same meaning are clap aliases on `ServeArgs`' own
//! fields: `--addr` (`--listen`, with Go's `:8080` form parsed by [`parse_listen`]),
//! `--logLevel` (`--log`), `--kubeconfig` (the same name), `--operariusNamespace`
//! (`--watch-namespaces`), `--alertStoreSize` (`--retention-alerts`) and
//! `--alertStoreClusterName` (`--cluster-id`). The others are the hidden group
//! [`OpenFeroFlags`]: the parser accepts any value for them, and [`check`] refuses each one
//! given with what replaces it, so a deployment carried over from OpenFero stops at start with
//! a configuration error (exit 64) instead of running with a setting silently dropped.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};

use clap::Args;

use super::{ConfigError, ServeArgs};

/// The value of a flag that carried a secret on OpenFero's command line. openfero refuses the
/// flag and never keeps the value, so it cannot reach a log, an error or debug output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Discarded;

impl std::fmt::Debug for Discarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<discarded>")
    }
}

fn discard(_: &str) -> Result<Discarded, String> {
    Ok(Discarded)
}

/// OpenFero's flags that have no openfero equivalent of the same meaning. Hidden from
/// `--help`; any value parses, so that `ServeArgs::validate` (exit 64) rather than clap (exit 2)
/// names the replacement.
#[derive(Debug, Clone, Args)]
pub struct OpenFeroFlags {
    /// OpenFero: `none`, `basic` or `bearer` for `POST /alerts`.
    #[arg(long = "authMethod", hide = true, value_name = "METHOD")]
    pub auth_method: Option<String>,
    /// OpenFero: the basic auth user, on the command line.
    #[arg(long = "authBasicUser", hide = true, value_parser = discard)]
    pub auth_basic_user: Option<Discarded>,
    /// OpenFero: the basic auth password, on the command line.
    #[arg(long = "authBasicPass", hide = true, value_parser = discard)]
    pub auth_basic_pass: Option<Discarded>,
    /// OpenFero: the bearer token, on the command line.
    #[arg(long = "authBearerToken", hide = true, value_parser = discard)]
    pub auth_bearer_token: Option<Discarded>,
    /// OpenFero: `memory` or `memberlist`.
    #[arg(long = "alertStoreType", hide = true, value_name = "TYPE")]
    pub alert_store_type: Option<String>,
    /// OpenFero: the HTTP server's read timeout, in seconds.
    #[arg(long = "readTimeout", hide = true, value_name = "SECONDS")]
    pub read_timeout: Option<String>,
    /// OpenFero: the HTTP server's write timeout, in seconds.
    #[arg(long = "writeTimeout", hide = true, value_name = "SECONDS")]
    pub write_timeout: Option<String>,
}

/// Every flag OpenFero 0.18 has (the aliases and the refused ones above).
pub const OPENFERO_FLAGS: [&str; 13] = [
    "addr",
    "logLevel",
    "kubeconfig",
    "readTimeout",
    "writeTimeout",
    "alertStoreSize",
    "alertStoreType",
    "alertStoreClusterName",
    "authMethod",
    "authBasicUser",
    "authBasicPass",
    "authBearerToken",
    "operariusNamespace",
];

/// Go's flag package reads `-addr :8080` as `--addr :8080`; clap reads one dash as short
/// flags. Before parsing, OpenFero's flag names written with one dash get the second, so a
/// Deployment's `args` carried over from OpenFero parse unchanged. Nothing else is touched, and
/// nothing after a `--`.
pub fn go_style_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut operands = false;
    for arg in args {
        let rewritten = match arg.to_str() {
            _ if operands => None,
            Some("--") => {
                operands = true;
                None
            }
            Some(s) if s.starts_with('-') && !s.starts_with("--") => {
                let name = s[1..].split('=').next().unwrap_or_default();
                OPENFERO_FLAGS
                    .contains(&name)
                    .then(|| OsString::from(format!("-{s}")))
            }
            _ => None,
        };
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

/// `--listen` and OpenFero's `--addr`: `ip:port`, `[ipv6]:port`, or the forms of Go's
/// `net.Listen` that OpenFero documents: `:port` (every interface; OpenFero's default is
/// `:8080`) and `localhost:port`. `:port` binds `0.0.0.0` (IPv4); give `[::]:port` for IPv6.
/// Other host names are refused: a listen address is never resolved through DNS.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let on = |ip: Ipv4Addr, port: &str| port.parse::<u16>().ok().map(|p| (ip, p).into());
    let parsed = if let Some(port) = s.strip_prefix(':') {
        on(Ipv4Addr::UNSPECIFIED, port)
    } else if let Some(port) = s.strip_prefix("localhost:") {
        on(Ipv4Addr::LOCALHOST, port)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        format!(
            "expected `ip:port`, `[ipv6]:port`, `localhost:port` or OpenFero's `:port` (every \
             interface), got `{s}`"
        )
    })
}

/// Refuses the first OpenFero flag given that openfero cannot honour, naming what replaces it.
pub(super) fn check(args: &ServeArgs) -> Result<(), ConfigError> {
    let flags = &args.openfero_compat;
    let refuse = |field: &'static str, reason: String| Err(ConfigError { field, reason });
    const ARGV: &str = "a secret on the command line can be read by every process on the node \
                        (`ps`, `/proc/<pid>/cmdline`)";
    if flags.auth_bearer_token.is_some() {
        return refuse(
            "authBearerToken",
            format!(
                "`--authBearerToken` is OpenFero's; openfero reads the webhook's bearer token \
                 from a file, `--webhook-token-file PATH` (OPENFERO_WEBHOOK_TOKEN_FILE), because \
                 {ARGV}"
            ),
        );
    }
    let basic_flag = match (flags.auth_basic_user, flags.auth_basic_pass) {
        (_, Some(_)) => Some("authBasicPass"),
        (Some(_), None) => Some("authBasicUser"),
        (None, None) => None,
    };
    if let Some(field) = basic_flag {
        return refuse(
            field,
            format!(
                "`--authBasicUser` and `--authBasicPass` are OpenFero's; openfero reads the \
                 webhook's basic credentials from a file holding `user:password`, \
                 `--webhook-basic-auth-file PATH` (OPENFERO_WEBHOOK_BASIC_AUTH_FILE), because \
                 {ARGV}"
            ),
        );
    }
    let token_file = args.webhook_token_file.is_some();
    let basic_file = args.auth.webhook_basic_auth_file.is_some();
    if let Some(method) = flags.auth_method.as_deref() {
        let method_lower = method.to_ascii_lowercase();
        match method_lower.as_str() {
            "none" if token_file || basic_file => {
                return refuse(
                    "authMethod",
                    "`--authMethod none` asks for an open webhook, but `--webhook-token-file` or \
                     `--webhook-basic-auth-file` is set: drop one or the other"
                        .into(),
                );
            }
            "none" => {}
            "bearer" if !token_file => {
                return refuse(
                    "authMethod",
                    "`--authMethod bearer` needs the token in a file: openfero's \
                     `--webhook-token-file PATH` (OPENFERO_WEBHOOK_TOKEN_FILE), which alone turns \
                     bearer auth on"
                        .into(),
                );
            }
            "basic" if !basic_file => {
                return refuse(
                    "authMethod",
                    "`--authMethod basic` needs the credentials in a file holding \
                     `user:password`: openfero's `--webhook-basic-auth-file PATH` \
                     (OPENFERO_WEBHOOK_BASIC_AUTH_FILE), which alone turns basic auth on"
                        .into(),
                );
            }
            "bearer" | "basic" => {}
            _ => {
                return refuse(
                    "authMethod",
                    format!(
                        "`--authMethod {method}` is not one of OpenFero's `none`, `basic`, \
                         `bearer`; openfero needs no method: `--webhook-token-file` turns bearer \
                         auth on, `--webhook-basic-auth-file` basic auth"
                    ),
                );
            }
        }
    }
    if let Some(store) = flags.alert_store_type.as_deref() {
        const CLUSTER: &str =
            "give `--gossip-addr`, `--seeds`, `--bootstrap-expect`, peer TLS and \
                               a gossip key (the Helm chart sets them; docs/deploy.md)";
        match store.to_ascii_lowercase().as_str() {
            "memory" if args.gossip_addr.is_some() => {
                return refuse(
                    "alertStoreType",
                    "`--alertStoreType memory` asks for a single node, but `--gossip-addr` makes \
                     this node a cluster member: drop one or the other"
                        .into(),
                );
            }
            // The embedded single node: what `memory` meant, kept on disk (`--data-dir`).
            "memory" => {}
            "memberlist" => {
                return refuse(
                    "alertStoreType",
                    format!(
                        "`--alertStoreType memberlist` is OpenFero's; openfero replicates its \
                         history in a Raft log instead, so that one leader runs each remediation \
                         exactly once: {CLUSTER}"
                    ),
                );
            }
            _ => {
                return refuse(
                    "alertStoreType",
                    format!(
                        "`--alertStoreType {store}` is not one of OpenFero's `memory`, \
                         `memberlist`; openfero has no store type: a single node keeps its \
                         history under `--data-dir`; to replicate it, {CLUSTER}"
                    ),
                );
            }
        }
    }
    if let Some(secs) = &flags.read_timeout {
        return refuse(
            "readTimeout",
            format!(
                "`--readTimeout {secs}` is OpenFero's HTTP read timeout; openfero has no such \
                 setting (a webhook body is bounded by `--body-limit` instead): drop the flag"
            ),
        );
    }
    if let Some(secs) = &flags.write_timeout {
        return refuse(
            "writeTimeout",
            format!(
                "`--writeTimeout {secs}` is OpenFero's HTTP write timeout; openfero has no such \
                 setting, and its `--write-timeout-ms` is another one (how long a webhook waits \
                 for its Raft commit before answering 503): drop the flag"
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser as _;

    use super::*;
    use crate::config::{Cli, CliCommand};

    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(std::iter::once("openfero").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"));
        let CliCommand::Serve(s) = cli.into_command() else {
            panic!("expected serve");
        };
        *s
    }

    /// The configuration error of `args`, which must fail validation.
    fn refused(args: &[&str]) -> ConfigError {
        serve(args)
            .validate()
            .expect_err("an OpenFero flag without an equivalent is refused")
    }

    #[test]
    fn openfero_addr_is_listen_and_its_port_only_form_means_every_interface() {
        let s = serve(&["--addr", ":8080"]);
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        s.validate().expect("valid");
        assert_eq!(serve(&["--addr=:9090"]).listen.to_string(), "0.0.0.0:9090");
        assert_eq!(
            serve(&["--addr", "127.0.0.1:8081"]).listen.to_string(),
            "127.0.0.1:8081"
        );
        assert_eq!(
            serve(&["--addr", "localhost:8082"]).listen.to_string(),
            "127.0.0.1:8082"
        );
        assert_eq!(
            serve(&["--addr", "[::]:8083"]).listen.to_string(),
            "[::]:8083"
        );
        assert_eq!(
            serve(&["serve", "--addr", ":8084"]).listen.to_string(),
            "0.0.0.0:8084",
            "the serve subcommand takes the alias too"
        );
        assert_eq!(
            serve(&["--listen", ":8085"]).listen.to_string(),
            "0.0.0.0:8085"
        );
        for bad in ["openfero:8080", ":http", "8080", ":", ":99999"] {
            let err = Cli::try_parse_from(["openfero", "--addr", bad]).expect_err(bad);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn go_style_single_dash_flags_are_openfero_s_flags() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            go_style_flags(args(&[
                "openfero",
                "-addr",
                ":8080",
                "-logLevel=debug",
                "-o",
                "--listen",
                "-x",
                "--",
                "-addr"
            ])),
            args(&[
                "openfero",
                "--addr",
                ":8080",
                "--logLevel=debug",
                "-o",
                "--listen",
                "-x",
                "--",
                "-addr"
            ])
        );
        let cli = Cli::try_parse_from(go_style_flags(args(&["openfero", "-addr", ":9090"])))
            .expect("parses");
        let CliCommand::Serve(s) = cli.into_command() else {
            panic!("expected serve");
        };
        assert_eq!(s.listen, "0.0.0.0:9090".parse().expect("addr"));
    }

    #[test]
    fn openfero_log_level_is_the_log_filter() {
        assert_eq!(serve(&["--logLevel", "debug"]).log, "debug");
        assert_eq!(serve(&["--logLevel=info"]).log, "info");
        assert_eq!(serve(&[]).log, "info", "OpenFero's default too");
    }

    #[test]
    fn openfero_kubeconfig_keeps_its_name() {
        let s = serve(&["--kubeconfig", "/home/ops/.kube/config"]);
        assert_eq!(s.kubeconfig, Some(PathBuf::from("/home/ops/.kube/config")));
    }

    #[test]
    fn openfero_operarius_namespace_is_the_watched_namespace() {
        let s = serve(&["--operariusNamespace=monitoring"]);
        assert_eq!(s.watch_namespaces, vec!["monitoring"]);
        let own = serve(&["--operariusNamespace", ""]);
        assert_eq!(
            crate::kubernetes::Namespaces::parse(&own.watch_namespaces, "ops"),
            crate::kubernetes::Namespaces::List(vec!["ops".into()]),
            "empty means the pod's own namespace, as in OpenFero"
        );
    }

    #[test]
    fn openfero_alert_store_size_and_cluster_name_are_retention_and_cluster_id() {
        let s = serve(&["--alertStoreSize", "500", "--alertStoreClusterName", "prod"]);
        assert_eq!(s.retention_alerts, 500);
        assert_eq!(s.cluster_id, "prod");
        s.validate().expect("valid");
        assert_eq!(
            refused(&["--alertStoreSize", "0"]).field,
            "retention-alerts",
            "openfero's own limits still apply"
        );
    }

    #[test]
    fn openfero_auth_secrets_on_the_command_line_are_refused_without_echoing_them() {
        let err = refused(&["--authMethod=bearer", "--authBearerToken=tok-3f9a1c"]);
        assert_eq!(err.field, "authBearerToken");
        assert!(err.reason.contains("--webhook-token-file"), "{err}");
        let err = refused(&[
            "--authMethod",
            "basic",
            "--authBasicUser",
            "alertmanager",
            "--authBasicPass",
            "pw-77c2e0",
        ]);
        assert_eq!(err.field, "authBasicPass");
        assert!(err.reason.contains("--webhook-basic-auth-file"), "{err}");
        assert_eq!(refused(&["--authBasicUser", "am"]).field, "authBasicUser");
        let parsed = format!(
            "{:?}",
            serve(&[
                "--authBearerToken",
                "tok-3f9a1c",
                "--authBasicPass",
                "pw-77c2e0"
            ])
        );
        for text in [err.to_string(), parsed] {
            assert!(
                !text.contains("tok-3f9a1c") && !text.contains("pw-77c2e0"),
                "{text}"
            );
        }
    }

    #[test]
    fn openfero_auth_method_needs_openfero_s_credential_file() {
        let err = refused(&["--authMethod", "bearer"]);
        assert_eq!(err.field, "authMethod");
        assert!(err.reason.contains("--webhook-token-file"), "{err}");
        serve(&[
            "--authMethod",
            "bearer",
            "--webhook-token-file",
            "/etc/hook/token",
        ])
        .validate()
        .expect("bearer with openfero's token file");
        let err = refused(&["--authMethod", "basic"]);
        assert!(err.reason.contains("--webhook-basic-auth-file"), "{err}");
        serve(&[
            "--authMethod",
            "basic",
            "--webhook-basic-auth-file",
            "/etc/hook/basic",
        ])
        .validate()
        .expect("basic with openfero's credentials file");
        serve(&["--authMethod", "none"])
            .validate()
            .expect("none: the open webhook");
        let err = refused(&["--authMethod", "none", "--webhook-token-file", "t"]);
        assert!(err.reason.contains("open webhook"), "{err}");
        let err = refused(&["--authMethod", "oauth"]);
        assert!(err.reason.contains("`--authMethod oauth`"), "{err}");
    }

    #[test]
    fn openfero_alert_store_type_memberlist_is_refused_for_the_cluster_flags() {
        let err = refused(&["--alertStoreType=memberlist"]);
        assert_eq!(err.field, "alertStoreType");
        assert!(
            err.reason.contains("--gossip-addr") && err.reason.contains("--bootstrap-expect"),
            "{err}"
        );
        serve(&["--alertStoreType", "memory"])
            .validate()
            .expect("memory: the embedded single node");
        let err = refused(&[
            "--alertStoreType",
            "memory",
            "--gossip-addr",
            "127.0.0.1:7946",
            "--insecure-cluster",
        ]);
        assert!(err.reason.contains("single node"), "{err}");
        let err = refused(&["--alertStoreType", "redis"]);
        assert!(err.reason.contains("`--alertStoreType redis`"), "{err}");
    }

    #[test]
    fn openfero_http_timeouts_are_refused() {
        let err = refused(&["--readTimeout", "5"]);
        assert_eq!(err.field, "readTimeout");
        assert!(err.reason.contains("--body-limit"), "{err}");
        let err = refused(&["--writeTimeout=10"]);
        assert_eq!(err.field, "writeTimeout");
        assert!(err.reason.contains("--write-timeout-ms"), "{err}");
    }

    #[test]
    fn openfero_flags_stay_out_of_the_help() {
        use clap::CommandFactory as _;
        let cli = Cli::command();
        let arg = |long: &str| {
            cli.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("--{long} exists"))
        };
        for long in [
            "authMethod",
            "authBasicUser",
            "authBasicPass",
            "authBearerToken",
            "alertStoreType",
            "readTimeout",
            "writeTimeout",
        ] {
            assert!(arg(long).is_hide_set(), "--{long} hidden");
        }
        for (long, alias) in [
            ("listen", "addr"),
            ("log", "logLevel"),
            ("watch-namespaces", "operariusNamespace"),
            ("retention-alerts", "alertStoreSize"),
            ("cluster-id", "alertStoreClusterName"),
        ] {
            let a = arg(long);
            assert!(
                a.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .any(|x| x == alias),
                "--{alias} is an alias of --{long}"
            );
            assert!(
                a.get_visible_aliases().unwrap_or_default().is_empty(),
                "--{alias} hidden"
            );
        }
    }
}
