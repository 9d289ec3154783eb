//! Alertmanager-style load: notifications posted to random nodes, some delivered to two nodes at
//! once (an Alertmanager HA pair), some followed by their resolved notification. A 503 or a
//! connection error means "not acknowledged, retry later", as Alertmanager treats it. Every
//! request and answer is one JSON line in `webhooks.jsonl`.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::double::{now_ms, ALERTNAME, GATED_ALERT, GUARDED_ALERT};
use crate::rng::SeededRng;

/// An alert event a node acknowledged (200): its ids as the answer named them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Acked {
    pub cycle: usize,
    /// Label value every alert of the cycle carries (`/api/alerts?q=` finds them).
    pub tag: String,
    pub notification: String,
    pub event_id: String,
    pub status: String,
    pub remediation_ids: Vec<String>,
    pub node: String,
    pub unix_ms: u64,
}

/// Totals of one cycle's load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadStats {
    pub notifications: usize,
    pub deliveries: usize,
    pub duplicate_deliveries: usize,
    pub resolved: usize,
    pub requests: usize,
    pub acknowledged: usize,
    pub answers_503: usize,
    pub connection_errors: usize,
    pub other_errors: usize,
    pub not_acknowledged: usize,
}

impl LoadStats {
    pub fn add(&mut self, o: &LoadStats) {
        self.notifications += o.notifications;
        self.deliveries += o.deliveries;
        self.duplicate_deliveries += o.duplicate_deliveries;
        self.resolved += o.resolved;
        self.requests += o.requests;
        self.acknowledged += o.acknowledged;
        self.answers_503 += o.answers_503;
        self.connection_errors += o.connection_errors;
        self.other_errors += o.other_errors;
        self.not_acknowledged += o.not_acknowledged;
    }
}

pub fn tag(cycle: usize) -> String {
    format!("cyc{cycle:04}x")
}

/// One notification with one alert of the plain operarius.
pub fn notification(cycle: usize, k: usize, status: &str) -> Value {
    notification_of(ALERTNAME, cycle, k, status)
}

/// One notification with one alert named `alertname`.
pub fn notification_of(alertname: &str, cycle: usize, k: usize, status: &str) -> Value {
    let pod = format!("web-{cycle}-{k}");
    let starts = format!("2026-11-26T{:02}:{:02}:00Z", (cycle / 60) % 24, cycle % 60);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "openfero",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.chaos",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "pod": pod, "namespace": "shop", "chaos": tag(cycle)},
            "annotations": {"summary": format!("{pod} is crash looping")},
            "startsAt": starts,
            "endsAt": if status == "resolved" { "2026-11-27T00:00:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.chaos/graph",
            "fingerprint": ""
        }]
    })
}

#[derive(Clone)]
pub struct Load {
    pub http: reqwest::Client,
    /// (name, base url) of every node, dead or alive: a sender does not know.
    pub nodes: Vec<(String, String)>,
    pub log: Arc<Mutex<File>>,
    /// How long a notification is retried before it counts as not acknowledged.
    pub give_up: Duration,
}

struct Outcome {
    acked: Vec<Acked>,
    stats: LoadStats,
}

impl Load {
    fn log_line(&self, v: Value) {
        let mut f = self.log.lock().expect("webhook log lock");
        let _ = writeln!(f, "{v}");
    }

    /// Deliver `body` until acknowledged or `give_up` passes, each attempt to a node drawn
    /// from `seed` (a Service would spread retries the same way).
    async fn deliver(&self, cycle: usize, name: String, body: Value, seed: u64) -> Outcome {
        let mut rng = SeededRng::new(seed);
        let mut stats = LoadStats {
            deliveries: 1,
            ..LoadStats::default()
        };
        let deadline = Instant::now() + self.give_up;
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (node, base) = rng.pick(&self.nodes).clone();
            let t = now_ms();
            stats.requests += 1;
            let r = self
                .http
                .post(format!("{base}/alerts"))
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await;
            let (status, answer, error) = match r {
                Ok(resp) => {
                    let st = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    (
                        Some(st),
                        serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                        None,
                    )
                }
                Err(e) => (None, Value::Null, Some(e.to_string())),
            };
            self.log_line(json!({
                "unixMs": t, "cycle": cycle, "notification": name, "attempt": attempt,
                "node": node, "status": status, "answer": answer, "error": error,
                "request": body,
            }));
            match status {
                Some(200) => {
                    stats.acknowledged += 1;
                    let acked = answer["alerts"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|a| Acked {
                            cycle,
                            tag: tag(cycle),
                            notification: name.clone(),
                            event_id: a["eventId"].as_str().unwrap_or_default().to_string(),
                            status: a["status"].as_str().unwrap_or_default().to_string(),
                            remediation_ids: a["remediations"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|r| r["id"].as_str().map(str::to_string))
                                .collect(),
                            node: node.clone(),
                            unix_ms: t,
                        })
                        .collect();
                    return Outcome { acked, stats };
                }
                Some(503) => stats.answers_503 += 1,
                Some(s) if s >= 500 => stats.other_errors += 1,
                Some(_) => {
                    // A 4xx: Alertmanager would not retry; the load is valid, so it is a bug.
                    stats.other_errors += 1;
                    stats.not_acknowledged += 1;
                    return Outcome {
                        acked: Vec::new(),
                        stats,
                    };
                }
                None => stats.connection_errors += 1,
            }
            if Instant::now() + backoff > deadline {
                stats.not_acknowledged += 1;
                return Outcome {
                    acked: Vec::new(),
                    stats,
                };
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// The load of one cycle, spread over `spread`: `n` firing notifications, ~30 % delivered
    /// twice at once, ~30 % followed by their resolved notification.
    pub async fn run_cycle(
        &self,
        cycle: usize,
        n: usize,
        spread: Duration,
        rng: &mut SeededRng,
    ) -> (Vec<Acked>, LoadStats) {
        let mut tasks = Vec::new();
        let mut stats = LoadStats::default();
        let gap = spread / (n.max(1) as u32);
        for k in 0..n {
            let dup = rng.chance(30);
            let resolve = rng.chance(30);
            stats.notifications += 1;
            let copies = if dup { 2 } else { 1 };
            if dup {
                stats.duplicate_deliveries += 1;
            }
            for c in 0..copies {
                let me = self.clone();
                let seed = rng.next_u64();
                let name = format!("c{cycle}-n{k}-firing#{c}");
                let body = notification(cycle, k, "firing");
                tasks.push(tokio::spawn(async move {
                    me.deliver(cycle, name, body, seed).await
                }));
            }
            if resolve {
                stats.notifications += 1;
                stats.resolved += 1;
                let me = self.clone();
                let seed = rng.next_u64();
                let name = format!("c{cycle}-n{k}-resolved");
                let body = notification(cycle, k, "resolved");
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(gap).await;
                    me.deliver(cycle, name, body, seed).await
                }));
            }
            if k == 0 {
                // Once a cycle, an alert for each guard-railed operarius (delivered once).
                for alertname in [GUARDED_ALERT, GATED_ALERT] {
                    stats.notifications += 1;
                    let me = self.clone();
                    let seed = rng.next_u64();
                    let name = format!("c{cycle}-{alertname}");
                    let body = notification_of(alertname, cycle, k, "firing");
                    tasks.push(tokio::spawn(async move {
                        me.deliver(cycle, name, body, seed).await
                    }));
                }
            }
            tokio::time::sleep(gap).await;
        }
        let mut acked = Vec::new();
        for t in tasks {
            if let Ok(o) = t.await {
                acked.extend(o.acked);
                let mut s = o.stats;
                s.notifications = 0;
                s.duplicate_deliveries = 0;
                s.resolved = 0;
                stats.add(&s);
            }
        }
        (acked, stats)
    }
}
