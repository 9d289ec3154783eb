//! The Grafana dashboard (charts/openfero/dashboards/openfero.json, shipped by the chart): every
//! PromQL expression in it (panel targets, rows' nested panels, annotations, the variables'
//! queries) parses with a real PromQL parser, and every metric those expressions read is one a
//! real openfero node exports at `/metrics`.
//!
//! Exported means sampled: prometheus-client (0.26) leaves a family without samples out of the
//! text entirely, `# HELP` and `# TYPE` included (its "filter out empty metric families, to
//! match the go client"; [`a_family_without_samples_is_left_out_of_the_exposition`]), so a
//! family that only fills after some event cannot be found by its declaration. The node below
//! is driven until every family the dashboard reads has a sample: an https API listener (TLS
//! handshake failures by listener), a webhook whose remediation runs (alerts, remediations,
//! executor durations) and one a dry-run operarius only rehearses (remediations by what decided
//! them). The names of a family's samples follow from its `# TYPE` (a counter `x` is sampled as
//! `x_total`, a histogram as `x_bucket`, `x_sum`, `x_count`): a dashboard that reads a family
//! by the wrong name is told the right ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::{self, Expr};
use serde_json::Value;

use crate::support::{client_trusting, eventually, free_port, marker_operarios, OpenferoProcess};

fn dashboard_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/openfero/dashboards/openfero.json")
}

fn dashboard() -> Value {
    let file = dashboard_file();
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read `{}`: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{}`: {e}", file.display()))
}

/// One PromQL expression of the dashboard and where it stands.
#[derive(Debug)]
struct Query {
    origin: String,
    expr: String,
}

/// Every PromQL expression of `dash`: each target of each panel (rows' nested panels too), each
/// Prometheus annotation, and the selector or query inside each query variable.
fn queries(dash: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    fn panels(list: &Value, out: &mut Vec<Query>) {
        for panel in list.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_else(|| {
                    panic!("panel `{title}`: a target without a PromQL `expr`: {target}")
                });
                out.push(Query {
                    origin: format!(
                        "panel `{title}` target {}",
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_string(),
                });
            }
            panels(&panel["panels"], out);
        }
    }
    panels(&dash["panels"], &mut out);
    for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
        if a["builtIn"] == 1 {
            continue;
        }
        let name = a["name"].as_str().unwrap_or("?");
        let expr = a["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("annotation `{name}` has no PromQL `expr`: {a}"));
        out.push(Query {
            origin: format!("annotation `{name}`"),
            expr: expr.to_string(),
        });
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("?");
        // Grafana's Prometheus variable query: a string, or `{query, refId, qryType}`.
        let q = v["query"]
            .as_str()
            .or_else(|| v["query"]["query"].as_str())
            .unwrap_or_else(|| panic!("variable `{name}` has no query: {v}"));
        if let Some(expr) = variable_promql(q).unwrap_or_else(|e| panic!("variable `{name}`: {e}"))
        {
            out.push(Query {
                origin: format!("variable `{name}`"),
                expr,
            });
        }
    }
    out
}

/// The PromQL inside a Grafana Prometheus variable query: `label_values(selector, label)` and
/// `query_result(expr)` hold one; `label_values(label)` and `label_names()` none.
fn variable_promql(q: &str) -> Result<Option<String>, String> {
    let q = q.trim();
    let inner = |prefix: &str| {
        q.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(args) = inner("label_values(") {
        return Ok(match args.rsplit_once(',') {
            Some((selector, label)) if is_label_name(label.trim()) => {
                Some(selector.trim().to_string())
            }
            None if is_label_name(args) => None,
            _ => return Err(format!("`{q}` is not `label_values([selector,] label)`")),
        });
    }
    if let Some(expr) = inner("query_result(") {
        return Ok(Some(expr.to_string()));
    }
    if q == "label_names()" {
        return Ok(None);
    }
    Err(format!(
        "`{q}` is not a Prometheus variable query this test reads"
    ))
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every `expr` key anywhere in `v`: the structural walk of [`queries`] must find them all.
fn count_expr_keys(v: &Value) -> usize {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| usize::from(k == "expr") + count_expr_keys(v))
            .sum(),
        Value::Array(items) => items.iter().map(count_expr_keys).sum(),
        _ => 0,
    }
}

/// The names of the dashboard's own variables.
fn variables(dash: &Value) -> BTreeSet<String> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

/// `expr` with Grafana's variables replaced by something PromQL accepts where they stand:
/// the interval built-ins by durations, the dashboard's variables (`$x`, `${x}`, `${x:regex}`,
/// `[[x]]`) by a label value. A variable the dashboard does not define is an error.
fn substitute(expr: &str, defined: &BTreeSet<String>) -> Result<String, String> {
    let value = |name: &str| -> Result<&'static str, String> {
        match name {
            "__rate_interval" | "__interval" => Ok("5m"),
            "__range" => Ok("1h"),
            "__interval_ms" => Ok("300000"),
            "__range_s" => Ok("3600"),
            "__range_ms" => Ok("3600000"),
            _ if defined.contains(name) => Ok("x"),
            _ => Err(format!(
                "`{expr}` uses `${name}`, which the dashboard does not define"
            )),
        }
    };
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find(['$', '[']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (name, len) = if let Some(braced) = tail.strip_prefix("${") {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("`{expr}`: unclosed `${{`"))?;
            let name = braced[..end].split(':').next().unwrap_or_default();
            (name, end + 3)
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            let end = bracketed
                .find("]]")
                .ok_or_else(|| format!("`{expr}`: unclosed `[[`"))?;
            (&bracketed[..end], end + 4)
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = plain
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(plain.len());
            (&plain[..end], end + 1)
        } else {
            // A plain `[`: a range.
            out.push('[');
            rest = &tail[1..];
            continue;
        };
        out.push_str(value(name)?);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The metric names `expr` reads: every vector selector's name, given as `name{...}` or as an
/// exact `__name__` matcher. A selector that names no metric, or matches names by regex, is an
/// error: the dashboard names each metric it reads.
fn metric_names(expr: &Expr) -> Result<BTreeSet<String>, String> {
    fn walk(e: &Expr, out: &mut BTreeSet<String>) -> Result<(), String> {
        match e {
            Expr::Aggregate(a) => {
                walk(&a.expr, out)?;
                if let Some(p) = &a.param {
                    walk(p, out)?;
                }
            }
            Expr::Unary(u) => walk(&u.expr, out)?,
            Expr::Binary(b) => {
                walk(&b.lhs, out)?;
                walk(&b.rhs, out)?;
            }
            Expr::Paren(p) => walk(&p.expr, out)?,
            Expr::Subquery(s) => walk(&s.expr, out)?,
            Expr::Call(c) => {
                for arg in &c.args.args {
                    walk(arg, out)?;
                }
            }
            Expr::VectorSelector(vs) => selector(vs, out)?,
            Expr::MatrixSelector(ms) => selector(&ms.vs, out)?,
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::Extension(x) => {
                for child in x.expr.children() {
                    walk(child, out)?;
                }
            }
        }
        Ok(())
    }
    fn selector(
        vs: &promql_parser::parser::VectorSelector,
        out: &mut BTreeSet<String>,
    ) -> Result<(), String> {
        let groups = std::iter::once(&vs.matchers.matchers).chain(&vs.matchers.or_matchers);
        let mut named: BTreeSet<String> = vs.name.iter().cloned().collect();
        for m in groups
            .flatten()
            .filter(|m: &&Matcher| m.name == METRIC_NAME)
        {
            match m.op {
                MatchOp::Equal => {
                    named.insert(m.value.clone());
                }
                _ => return Err(format!("`{vs}` matches metric names by `{}`", m.op)),
            }
        }
        if named.is_empty() {
            return Err(format!("`{vs}` names no metric"));
        }
        out.extend(named);
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(expr, &mut out)?;
    Ok(out)
}

/// Every query of `dash`, substituted and parsed, with the metric names it reads; the first
/// problem found (a parse error, an undefined variable, a selector without a name) panics with
/// where it stands.
fn dashboard_metrics(dash: &Value) -> BTreeMap<String, Vec<String>> {
    let defined = variables(dash);
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in queries(dash) {
        let promql = substitute(&q.expr, &defined).unwrap_or_else(|e| panic!("{}: {e}", q.origin));
        let ast = parser::parse(&promql).unwrap_or_else(|e| {
            panic!("{}: `{promql}` is not PromQL: {e}", q.origin);
        });
        let names = metric_names(&ast).unwrap_or_else(|e| panic!("{}: {e}", q.origin));
        assert!(
            !names.is_empty(),
            "{}: `{promql}` reads no metric",
            q.origin
        );
        for name in names {
            used.entry(name).or_default().push(q.origin.clone());
        }
    }
    used
}

/// What an OpenMetrics text exports: the sample names, and each family's `# TYPE`.
#[derive(Debug, Default)]
struct Exposition {
    samples: BTreeSet<String>,
    families: BTreeMap<String, String>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut e = Self::default();
        for line in text.lines() {
            if let Some(decl) = line.strip_prefix("# TYPE ") {
                let (family, kind) = decl
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("a `# TYPE` line without a type: `{line}`"));
                e.families.insert(family.to_string(), kind.to_string());
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                e.samples.insert(line[..end].to_string());
            }
        }
        e
    }

    /// The names a family of this type is sampled under (OpenMetrics).
    fn sample_names(family: &str, kind: &str) -> Vec<String> {
        let with = |suffixes: &[&str]| suffixes.iter().map(|s| format!("{family}{s}")).collect();
        match kind {
            "counter" => with(&["_total", "_created"]),
            "histogram" => with(&["_bucket", "_sum", "_count", "_created"]),
            "gaugehistogram" => with(&["_bucket", "_gsum", "_gcount"]),
            "summary" => with(&["", "_sum", "_count", "_created"]),
            "info" => with(&["_info"]),
            _ => with(&[""]),
        }
    }

    /// Why `name` is not exported, or `None` when a sample carries it.
    fn missing(&self, name: &str) -> Option<String> {
        if self.samples.contains(name) {
            return None;
        }
        // A near miss: a family read by its own name, or by a suffix its type has not.
        let hint = self
            .families
            .iter()
            .find(|(family, _)| {
                name == family.as_str()
                    || name
                        .strip_prefix(family.as_str())
                        .is_some_and(|s| s.starts_with('_') && !s[1..].contains('_'))
            })
            .map(|(family, kind)| {
                let names: Vec<String> = Self::sample_names(family, kind)
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect();
                format!(
                    " (`{family}` is a {kind}: its samples are {})",
                    names.join(", ")
                )
            })
            .unwrap_or_default();
        Some(format!("`{name}` is not exported{hint}"))
    }
}

/// Every name `used` reads that `exposition` does not export, with the queries that read it.
fn unexported(used: &BTreeMap<String, Vec<String>>, exposition: &Exposition) -> Vec<String> {
    used.iter()
        .filter_map(|(name, origins)| {
            exposition
                .missing(name)
                .map(|why| format!("{why}, read by {}", origins.join(", ")))
        })
        .collect()
}

#[test]
fn every_dashboard_expression_parses_and_names_its_metrics() {
    let dash = dashboard();
    let qs = queries(&dash);
    let expr_keys = count_expr_keys(&dash);
    let structural = qs
        .iter()
        .filter(|q| !q.origin.starts_with("variable"))
        .count();
    assert_eq!(
        structural, expr_keys,
        "every `expr` in the JSON is a target or an annotation this test reads"
    );
    let nested = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|r| r["panels"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    assert!(
        nested > 0,
        "collapsed rows' nested panels are part of the walk"
    );
    assert!(qs.iter().any(|q| q.origin.starts_with("variable")));
    let used = dashboard_metrics(&dash);
    println!(
        "{} expressions read {} metrics: {:?}",
        qs.len(),
        used.len(),
        used.keys()
    );
    for wanted in [
        "openfero_alerts_received_total",
        "openfero_remediations_total",
        "openfero_executor_duration_seconds_bucket",
        "openfero_raft_term",
        "openfero_gossip_live_nodes",
    ] {
        assert!(used.contains_key(wanted), "the dashboard shows `{wanted}`");
    }
}

#[test]
fn the_dashboard_asks_for_its_data_source_and_job() {
    let dash = dashboard();
    assert_eq!(dash["schemaVersion"], 39);
    assert_eq!(dash["uid"], "openfero");
    let vars = dash["templating"]["list"].as_array().expect("variables");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable `{name}`"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["job", "instance"] {
        assert_eq!(var(name)["type"], "query", "{name}");
        assert_eq!(var(name)["datasource"]["uid"], "${datasource}", "{name}");
    }
    // Every panel and target reads the chosen data source (no UID of someone's Grafana), and
    // panel ids are unique.
    let mut ids = BTreeSet::new();
    fn walk(list: &Value, ids: &mut BTreeSet<u64>) {
        for p in list.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?");
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("`{title}` has an id"));
            assert!(ids.insert(id), "panel id {id} (`{title}`) is unique");
            if p["type"] != "row" {
                assert_eq!(p["datasource"]["uid"], "${datasource}", "`{title}`");
                for t in p["targets"].as_array().into_iter().flatten() {
                    assert_eq!(t["datasource"]["uid"], "${datasource}", "`{title}`");
                }
            }
            walk(&p["panels"], ids);
        }
    }
    walk(&dash["panels"], &mut ids);
    // The per-node selector is in every panel query.
    for q in queries(&dash) {
        if q.origin.starts_with("panel") {
            assert!(
                q.expr.contains(r#"job=~"$job""#) && q.expr.contains(r#"instance=~"$instance""#),
                "{}: `{}` filters by $job and $instance",
                q.origin,
                q.expr
            );
        }
    }
}

/// The text of a registry where each labelled family has one sample.
fn touched_metrics() -> String {
    use openfero::metrics::{Metrics, OutcomeLabel, RemediationLabels, StatusLabel};
    let m = Metrics::new();
    m.alerts_received
        .get_or_create(&StatusLabel {
            status: "firing".into(),
        })
        .inc();
    m.remediations
        .get_or_create(&RemediationLabels {
            operarius: "default/restart".into(),
            outcome: "succeeded".into(),
        })
        .inc();
    m.executor_duration
        .get_or_create(&OutcomeLabel {
            outcome: "succeeded".into(),
        })
        .observe(0.3);
    m.encode()
}

#[test]
fn a_family_without_samples_is_left_out_of_the_exposition() {
    // prometheus-client 0.26 prints nothing for a family nobody has touched yet, not even its
    // `# HELP` and `# TYPE`: the running node must have samples of every family the dashboard
    // reads. Label-less counters and gauges always have one (their value, 0 at first).
    let text = openfero::metrics::Metrics::new().encode();
    let e = Exposition::parse(&text);
    assert!(!text.contains("openfero_remediations "), "{text}");
    assert!(!e.families.contains_key("openfero_remediations"), "{text}");
    assert!(!e
        .families
        .contains_key("openfero_executor_duration_seconds"));
    assert!(!e.families.contains_key("openfero_tls_handshake_failures"));
    assert!(e.samples.contains("openfero_gossip_rejected_packets_total"));
    assert!(e.samples.contains("openfero_raft_term"));
    assert!(e.missing("openfero_remediations_total").is_some());
    // Touched, a family is declared and sampled.
    let e = Exposition::parse(&touched_metrics());
    assert_eq!(
        e.families.get("openfero_remediations").map(String::as_str),
        Some("counter")
    );
    assert_eq!(e.missing("openfero_remediations_total"), None);
}

#[test]
fn a_made_up_or_misspelt_metric_is_reported() {
    let e = Exposition::parse(&touched_metrics());
    let defined = BTreeSet::from(["job".to_string()]);
    let used_by = |expr: &str| {
        let promql = substitute(expr, &defined).expect("substitute");
        let ast = parser::parse(&promql).unwrap_or_else(|err| panic!("`{promql}`: {err}"));
        metric_names(&ast).expect("names")
    };
    for (expr, reported) in [
        (
            r#"rate(openfero_not_a_metric_total{job=~"$job"}[$__rate_interval])"#,
            "openfero_not_a_metric_total",
        ),
        // A gauge read as a counter, a counter without `_total`, a histogram by its family name.
        ("openfero_raft_term_total", "openfero_raft_term_total"),
        (
            "rate(openfero_alerts_received[5m])",
            "openfero_alerts_received",
        ),
        (
            "openfero_executor_duration_seconds",
            "openfero_executor_duration_seconds",
        ),
        // A name hidden in a `__name__` matcher, deep in an expression.
        (
            r#"sum(rate(openfero_remediations_total[5m])) / sum(rate({__name__="openfero_made_up_total"}[5m]))"#,
            "openfero_made_up_total",
        ),
        (
            "topk(3, openfero_made_up_gauge) or vector(0)",
            "openfero_made_up_gauge",
        ),
    ] {
        let used: BTreeMap<String, Vec<String>> = used_by(expr)
            .into_iter()
            .map(|n| (n, vec![format!("`{expr}`")]))
            .collect();
        let missing = unexported(&used, &e);
        assert_eq!(missing.len(), 1, "{expr}: {missing:?}");
        assert!(
            missing[0].starts_with(&format!("`{reported}` is not exported")),
            "{expr}: {missing:?}"
        );
    }
    let hint = e.missing("openfero_raft_term_total").expect("reported");
    assert!(hint.contains("`openfero_raft_term` is a gauge"), "{hint}");
    let hint = e.missing("openfero_alerts_received").expect("reported");
    assert!(hint.contains("`openfero_alerts_received_total`"), "{hint}");
    for name in [
        "openfero_alerts_received_total",
        "openfero_executor_duration_seconds_bucket",
        "openfero_executor_duration_seconds_count",
        "openfero_raft_term",
        "openfero_gossip_rejected_packets_total",
    ] {
        assert_eq!(e.missing(name), None, "{name}");
    }
    // Selectors that name no metric exactly, and variables nobody defined, are refused.
    for bad in [r#"{job="x"}"#, r#"{__name__=~"openfero_.+"}"#] {
        let ast = parser::parse(bad).expect("valid PromQL");
        assert!(metric_names(&ast).is_err(), "{bad}");
    }
    assert!(substitute(r#"up{pod=~"$pod"}"#, &defined).is_err());
    assert_eq!(
        substitute(r#"x{a=~"${job:regex}", b="[[job]]"}[$__range]"#, &defined).expect("ok"),
        r#"x{a=~"x", b="x"}[1h]"#
    );
}

async fn post_firing(http: &reqwest::Client, node: &OpenferoProcess, alertname: &str) -> String {
    let body = crate::support::webhook(alertname, "web-1", "firing", "2026-01-01T00:00:00Z");
    let r = http
        .post(node.url("/alerts"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200, "{alertname}");
    let answer: Value = r.json().await.expect("json");
    answer["alerts"][0]["remediations"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{alertname}: a remediation in {answer}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_reads_is_exported_by_a_running_node() {
    let used = dashboard_metrics(&dashboard());
    let tmp = tempfile::tempdir().expect("tempdir");
    // One operarius that runs, one that only rehearses (a dry run, decided by its mode).
    let (ops, marker) = marker_operarios(tmp.path(), &[("mark", "DashboardRun", "firing")]);
    let rehearse =
        crate::support::marker_operarius("rehearse", "DashboardDryRun", "firing", &marker)
            .replacen("spec:\n", "spec:\n  mode: dry-run\n", 1);
    std::fs::write(ops.join("rehearse.yaml"), rehearse).expect("write");
    // An https API listener: the TLS handshake failure family gets its `api` sample.
    let certs = tmp.path().join("certs");
    openfero::certs::init(&certs, &["api".to_string()], 1).expect("certs");
    let (cert, key) = openfero::certs::node_files(&certs, "api");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let (cert, key) = (path(&cert), path(&key));
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        free_port(),
        &["--tls-cert-file", &cert, "--tls-key-file", &key],
    );
    let http = client_trusting(&certs.join("ca.pem"));
    node.wait_ready(&http).await;

    let ran = post_firing(&http, &node, "DashboardRun").await;
    let rehearsed = post_firing(&http, &node, "DashboardDryRun").await;
    for (id, state) in [(&ran, "succeeded"), (&rehearsed, "dry-run")] {
        let url = node.url(&format!("/api/remediations/{id}"));
        eventually(
            &format!("remediation {id} {state}"),
            Duration::from_secs(30),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let r: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
                    (r["state"] == state).then_some(())
                }
            },
        )
        .await;
    }
    assert!(
        std::fs::read_to_string(&marker).is_ok_and(|m| m.lines().count() == 1),
        "the remediation ran, the dry run did not"
    );
    // The outcome is counted after it is recorded: poll for it.
    let url = node.url("/metrics");
    let text = eventually(
        "the remediation's outcome in /metrics",
        Duration::from_secs(30),
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let text = http.get(&url).send().await.ok()?.text().await.ok()?;
                text.contains("openfero_executor_duration_seconds_count{")
                    .then_some(text)
            }
        },
    )
    .await;

    let exposition = Exposition::parse(&text);
    let missing = unexported(&used, &exposition);
    assert!(
        missing.is_empty(),
        "the dashboard reads metrics this node does not export:\n{}\n\n/metrics:\n{text}",
        missing.join("\n")
    );
    println!(
        "all {} metrics the dashboard reads have samples at /metrics",
        used.len()
    );
}
