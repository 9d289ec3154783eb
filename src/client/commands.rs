//! Each client command: one or two API calls, then a table (or the JSON/YAML as received).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::output::{short, structured, table, text, time, took};
use super::{
    AlertsArgs, Api, AutopilotState, ClientArgs, ClientError, ClusterAction, ClusterArgs, Command,
    Exit, OperariosArgs, RemediationArgs, RemediationsArgs,
};

/// Runs one client command, printing to stdout and errors to stderr; its exit code.
pub fn run(command: Command) -> Exit {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("openfero: cannot start the runtime: {e}");
            return Exit::Failed;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match runtime.block_on(dispatch(command, &mut out)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("openfero: {e}");
            e.exit()
        }
    }
}

/// Runs one client command against its `--server`, writing to `out`.
pub async fn dispatch(command: Command, out: &mut dyn Write) -> Result<Exit, ClientError> {
    match command {
        Command::Alerts(a) => alerts(&a, out).await,
        Command::Remediations(a) => remediations(&a, out).await,
        Command::Remediation(a) => remediation(&a, out).await,
        Command::Operarios(a) => operarios(&a, out).await,
        Command::Cluster(a) => cluster(&a, out).await,
    }
}

fn written(r: std::io::Result<()>) -> Result<Exit, ClientError> {
    match r {
        Ok(()) => Ok(Exit::Ok),
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(e) => Err(ClientError::Usage(format!("cannot write the output: {e}"))),
    }
}

/// Prints `value` as JSON/YAML when asked, else as the table `render` makes of it.
fn show(
    args: &ClientArgs,
    value: &Value,
    out: &mut dyn Write,
    render: impl FnOnce(&Value, &mut dyn Write) -> std::io::Result<()>,
) -> Result<Exit, ClientError> {
    match structured(args.output, value, out) {
        Some(r) => written(r),
        None => written(render(value, out)),
    }
}

fn items<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, ClientError> {
    value.as_array().ok_or_else(|| ClientError::Answer {
        path: path.into(),
        reason: "not a list".into(),
    })
}

async fn alerts(a: &AlertsArgs, out: &mut dyn Write) -> Result<Exit, ClientError> {
    let api = Api::new(&a.client)?;
    let mut query = vec![("limit", a.limit.to_string())];
    if let Some(s) = &a.status {
        query.push(("status", s.clone()));
    }
    if let Some(q) = &a.query {
        query.push(("q", q.clone()));
    }
    let value = api.get("/api/alerts", &query).await?;
    items(&value, "/api/alerts")?;
    show(&a.client, &value, out, |v, out| {
        let mut t = table(&[
            "seq",
            "received",
            "status",
            "alertname",
            "labels",
            "remediations",
        ]);
        for alert in v.as_array().into_iter().flatten() {
            let labels: Vec<String> = alert["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            let remediations = match alert["remediations"].as_array() {
                Some(r) if !r.is_empty() => r.iter().map(text).collect::<Vec<_>>().join(" "),
                _ => alert["why"].as_str().unwrap_or("none").to_owned(),
            };
            t.add_row(vec![
                text(&alert["seq"]),
                time(&alert["receivedAt"]),
                text(&alert["status"]),
                text(&alert["alertname"]),
                labels.join(","),
                remediations,
            ]);
        }
        writeln!(out, "{t}")
    })
}

/// Whether `operarius` (`name` or `namespace/name`) names the remediation's.
fn of_operarius(r: &Value, operarius: &str) -> bool {
    let full = r["operarius"].as_str().unwrap_or_default();
    full == operarius || full.rsplit('/').next() == Some(operarius)
}

async fn remediations(a: &RemediationsArgs, out: &mut dyn Write) -> Result<Exit, ClientError> {
    let api = Api::new(&a.client)?;
    // The API filters by state; by operarius the client does, among the newest 1000.
    let limit = if a.operarius.is_some() { 1000 } else { a.limit };
    let mut query = vec![("limit", limit.to_string())];
    if let Some(s) = &a.state {
        query.push(("state", s.clone()));
    }
    let mut value = api.get("/api/remediations", &query).await?;
    items(&value, "/api/remediations")?;
    if let (Some(op), Some(list)) = (&a.operarius, value.as_array_mut()) {
        list.retain(|r| of_operarius(r, op));
        list.truncate(a.limit);
    }
    show(&a.client, &value, out, |v, out| {
        let mut t = table(&[
            "id",
            "operarius",
            "alert",
            "state",
            "created",
            "took",
            "exit",
            "reason",
        ]);
        for r in v.as_array().into_iter().flatten() {
            t.add_row(vec![
                text(&r["id"]),
                text(&r["operarius"]),
                format!("{} ({})", text(&r["alertname"]), text(&r["alertStatus"])),
                text(&r["state"]),
                time(&r["createdAt"]),
                took(&r["startedAt"], &r["finishedAt"]),
                text(&r["exitCode"]),
                text(&r["reason"]),
            ]);
        }
        writeln!(out, "{t}")
    })
}

/// States a remediation leaves again (every other state is final).
fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "pending" | "running" | "queued" | "awaiting-approval"
    )
}

fn print_remediation(r: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let fields = [
        ("id", text(&r["id"])),
        ("operarius", text(&r["operarius"])),
        (
            "alert",
            format!(
                "{} ({}), event {}",
                text(&r["alertname"]),
                text(&r["alertStatus"]),
                text(&r["eventId"])
            ),
        ),
        ("state", text(&r["state"])),
        ("reason", text(&r["reason"])),
        ("job", text(&r["jobName"])),
        ("executor", text(&r["executor"])),
        ("exit code", text(&r["exitCode"])),
    ];
    for (k, v) in fields {
        writeln!(out, "{:<10} {v}", format!("{k}:"))?;
    }
    writeln!(out, "\ntimeline:")?;
    let mut t = table(&["step", "at", "after"]);
    let mut prev = Value::Null;
    for (step, at) in [
        ("matched", &r["createdAt"]),
        ("started", &r["startedAt"]),
        ("finished", &r["finishedAt"]),
    ] {
        if at.is_null() {
            continue;
        }
        t.add_row(vec![step.to_owned(), time(at), took(&prev, at)]);
        prev = at.clone();
    }
    writeln!(out, "{t}")?;
    let output = r["outputTail"].as_str().unwrap_or_default();
    if !output.is_empty() {
        writeln!(out, "\noutput (tail):\n{}", output.trim_end())?;
    }
    Ok(())
}

async fn remediation(a: &RemediationArgs, out: &mut dyn Write) -> Result<Exit, ClientError> {
    let api = Api::new(&a.client)?;
    let path = format!("/api/remediations/{}", a.id);
    let mut value = api.get(&path, &[]).await?;
    let mut exit = Exit::Ok;
    if a.wait {
        exit = wait(&api, &path, &mut value, a.timeout).await?;
    }
    let shown = show(&a.client, &value, out, |v, out| print_remediation(v, out))?;
    Ok(if exit == Exit::Ok { shown } else { exit })
}

/// Re-reads the remediation whenever the node applies something (its event stream) until it
/// reaches a final state or `timeout` passes, with a spinner on a terminal's stderr.
async fn wait(
    api: &Api,
    path: &str,
    value: &mut Value,
    timeout: Duration,
) -> Result<Exit, ClientError> {
    let deadline = Instant::now() + timeout;
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let mut events: Option<reqwest::Response> = None;
    loop {
        let state = value["state"].as_str().unwrap_or("unknown").to_owned();
        spinner.set_message(format!(
            "{} is {state} ({}s)",
            short(&value["id"], 32),
            started.elapsed().as_secs()
        ));
        if is_final(&state) {
            spinner.finish_and_clear();
            return Ok(if state == "succeeded" {
                Exit::Ok
            } else {
                eprintln!("openfero: the remediation ended {state}");
                Exit::Unsuccessful
            });
        }
        let now = Instant::now();
        if now >= deadline {
            spinner.finish_and_clear();
            eprintln!(
                "openfero: gave up after {} with the remediation {state}",
                humantime::format_duration(timeout)
            );
            return Ok(Exit::TimedOut);
        }
        if events.is_none() {
            events = Some(api.events().await?);
        }
        let stream = events.as_mut().expect("just opened");
        // Wake on the next event; re-read at least every 5 s in case one was missed.
        let wake = deadline.min(now + Duration::from_secs(5));
        match tokio::time::timeout_at(wake.into(), stream.chunk()).await {
            Ok(Ok(Some(_))) | Err(_) => {}
            // The stream ended or broke: open a new one on the next round.
            Ok(Ok(None)) | Ok(Err(_)) => events = None,
        }
        *value = api.get(path, &[]).await?;
    }
}

async fn operarios(a: &OperariosArgs, out: &mut dyn Write) -> Result<Exit, ClientError> {
    let api = Api::new(&a.client)?;
    let value = api.get("/api/operarios", &[]).await?;
    items(&value, "/api/operarios")?;
    show(&a.client, &value, out, |v, out| {
        let mut t = table(&[
            "operarius",
            "alert",
            "priority",
            "enabled",
            "cooldown",
            "problems",
        ]);
        for op in v.as_array().into_iter().flatten() {
            let mut selector = vec![format!("alertname={}", text(&op["alertname"]))];
            if let Some(s) = op["status"].as_str().filter(|s| !s.is_empty()) {
                selector.push(format!("status={s}"));
            }
            for (k, v) in op["labels"].as_object().into_iter().flatten() {
                selector.push(format!("{k}={}", text(v)));
            }
            selector.extend(op["matchers"].as_array().into_iter().flatten().map(text));
            let problems = op["problems"].as_array().map_or(0, Vec::len);
            t.add_row(vec![
                format!("{}/{}", text(&op["namespace"]), text(&op["name"])),
                selector.join(","),
                text(&op["priority"]),
                text(&op["enabled"]),
                op["cooldownSeconds"]
                    .as_u64()
                    .map(|s| humantime::format_duration(Duration::from_secs(s)).to_string())
                    .unwrap_or_else(|| "-".into()),
                if problems == 0 {
                    "-".into()
                } else {
                    problems.to_string()
                },
            ]);
        }
        writeln!(out, "{t}")
    })
}

fn print_members(c: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let leader = c["leader"].as_str();
    let nodes = c["nodes"].as_array().cloned().unwrap_or_default();
    let name_of = |id: &str| {
        nodes
            .iter()
            .find(|n| n["id"].as_str() == Some(id))
            .and_then(|n| n["name"].as_str())
            .unwrap_or(id)
            .to_owned()
    };
    writeln!(
        out,
        "cluster {}  term {}  leader {}  autopilot {}",
        text(&c["clusterUuid"]),
        text(&c["term"]),
        leader.map_or_else(|| "none".to_owned(), name_of),
        if c["autopilotPaused"].as_bool() == Some(true) {
            "paused"
        } else {
            "running"
        }
    )?;
    // Lag: how far each member's log is behind the newest index anyone reports (the leader's
    // matched index where this node is the leader, else what gossip carries).
    let reach = |n: &Value| n["matchedIndex"].as_u64().or(n["lastLogIndex"].as_u64());
    let top = nodes.iter().filter_map(reach).max();
    let mut t = table(&[
        "node", "id", "address", "role", "status", "log", "lag", "applied",
    ]);
    for n in &nodes {
        let id = n["id"].as_str().unwrap_or_default();
        let mut role = text(&n["role"]);
        if Some(id) == leader {
            role = format!("{role} (leader)");
        }
        let status = match (
            n["alive"].as_bool(),
            n["ready"].as_bool(),
            n["leaving"].as_bool(),
        ) {
            (_, _, Some(true)) => "leaving",
            (Some(false), _, _) => "down",
            (_, Some(true), _) => "ready",
            (_, Some(false), _) => "not ready",
            _ => "-",
        };
        let lag = match (top, reach(n)) {
            (Some(top), Some(at)) => top.saturating_sub(at).to_string(),
            _ => "-".into(),
        };
        t.add_row(vec![
            text(&n["name"]),
            id.to_owned(),
            text(&n["apiAddr"]),
            role,
            status.to_owned(),
            text(&n["lastLogIndex"]),
            lag,
            text(&n["appliedIndex"]),
        ]);
    }
    writeln!(out, "{t}")
}

/// A node given by id (16 hex digits) or by name, as the cluster view lists it.
async fn node_id(api: &Api, node: &str) -> Result<String, ClientError> {
    if node.len() == 16 && node.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(node.to_ascii_lowercase());
    }
    let view = api.get("/admin/cluster", &[]).await?;
    let found: Vec<&str> = view["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"].as_str() == Some(node))
        .filter_map(|n| n["id"].as_str())
        .collect();
    match found.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => Err(ClientError::Status {
            status: reqwest::StatusCode::NOT_FOUND,
            message: format!("no member is named `{node}` (give its id or name)"),
        }),
        _ => Err(ClientError::Usage(format!(
            "several members are named `{node}`: give the id ({})",
            found.join(", ")
        ))),
    }
}

async fn cluster(a: &ClusterArgs, out: &mut dyn Write) -> Result<Exit, ClientError> {
    let api = Api::new(&a.client)?;
    let action = a.action.clone().unwrap_or(ClusterAction::Members);
    let (op, node) = match &action {
        ClusterAction::Members => {
            let value = api.get("/admin/cluster", &[]).await?;
            return show(&a.client, &value, out, print_members);
        }
        ClusterAction::Autopilot { state } => {
            let paused = *state == AutopilotState::Pause;
            let value = api
                .post(
                    "/admin/cluster/autopilot",
                    Some(&json!({ "paused": paused })),
                )
                .await?;
            return show(&a.client, &value, out, |_, out| {
                writeln!(
                    out,
                    "autopilot {}",
                    if paused { "paused" } else { "resumed" }
                )
            });
        }
        ClusterAction::Promote { node } => ("promote", node),
        ClusterAction::Demote { node } => ("demote", node),
        ClusterAction::Remove { node } => ("remove", node),
    };
    let id = node_id(&api, node).await?;
    let value = api
        .post(&format!("/admin/cluster/nodes/{id}/{op}"), None)
        .await?;
    show(&a.client, &value, out, |_, out| {
        writeln!(out, "{op}: node {node} ({id}) done")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_are_the_ones_a_remediation_never_leaves() {
        for s in ["pending", "running", "queued", "awaiting-approval"] {
            assert!(!is_final(s), "{s}");
        }
        for s in [
            "succeeded",
            "failed",
            "skipped",
            "dry-run",
            "denied",
            "some-new-state",
        ] {
            assert!(is_final(s), "{s}");
        }
    }

    #[test]
    fn an_operarius_is_named_by_name_or_namespace_and_name() {
        let r = json!({"operarius": "ops/restart"});
        assert!(of_operarius(&r, "restart"));
        assert!(of_operarius(&r, "ops/restart"));
        assert!(!of_operarius(&r, "other/restart"));
        assert!(!of_operarius(&r, "rest"));
    }

    #[test]
    fn members_show_role_status_and_lag_from_the_view() {
        let view = json!({
            "clusterUuid": "u1", "term": 4, "leader": "00000000000000aa", "autopilotPaused": true,
            "nodes": [
                {"id": "00000000000000aa", "name": "n0", "apiAddr": "127.0.0.1:1", "role": "voter",
                 "alive": true, "ready": true, "leaving": false, "matchedIndex": 120,
                 "lastLogIndex": 120, "appliedIndex": 120},
                {"id": "00000000000000bb", "name": "n1", "apiAddr": "127.0.0.1:2", "role": "learner",
                 "alive": false, "ready": null, "leaving": false, "matchedIndex": 97,
                 "lastLogIndex": 97, "appliedIndex": 90}
            ]
        });
        let mut out = Vec::new();
        print_members(&view, &mut out).expect("prints");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("leader n0") && lines[0].contains("autopilot paused"));
        let row = |name: &str| {
            *lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .expect("a row per node")
        };
        let n0 = row("n0");
        assert!(
            n0.contains("voter (leader)") && n0.contains("ready"),
            "{n0}"
        );
        let n1 = row("n1");
        let cells: Vec<&str> = n1.split_whitespace().collect();
        assert!(
            cells.contains(&"down") && cells.contains(&"23"),
            "lag 120 - 97: {n1}"
        );
    }
}
