use std::collections::BTreeMap;

use openfero_raft::{ApplyContext, KvTxn, StateMachine};

use super::*;
use crate::operarios::Operarius;
use crate::remediation::command::{
    AlertEvent, Ingest, IngestSummary, LeaderId, Notification, Outcome,
};
use crate::remediation::record::RemediationState;

pub(super) const OP: &str = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: restart, namespace: ops}
spec:
  alertSelector: {alertname: Crash, status: firing}
  deduplication: {enabled: true, ttl: 60}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: c
              image: busybox
              command: ["/bin/echo", "{{ .Labels.pod }}"]
"#;

pub(super) struct Harness {
    _dir: tempfile::TempDir,
    tree: sled::Tree,
    index: u64,
}

impl Harness {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("open");
        let tree = db.open_tree("sm").expect("tree");
        Self {
            _dir: dir,
            tree,
            index: 0,
        }
    }

    /// Apply one command as leader (term 1, node 7) and commit its writes.
    pub(super) fn apply(&mut self, c: CommandV1) -> Response {
        self.apply_as(c, 1, 7)
    }

    fn apply_as(&mut self, c: CommandV1, term: u64, leader: u64) -> Response {
        self.index += 1;
        let mut txn = KvTxn::new_for_tests(&self.tree);
        let ctx = ApplyContext {
            index: self.index,
            term,
            leader,
        };
        let r = RemediationMachine
            .apply(&mut txn, ctx, Command::V1(c))
            .expect("apply");
        txn.commit_for_tests().expect("commit");
        r
    }
}

pub(super) fn catalog(yaml: &str) -> CommandV1 {
    let op: Operarius = serde_yaml::from_str(yaml).expect("operarius");
    let def = op.to_def("default").expect("valid");
    CommandV1::SyncOperarios {
        catalog: vec![def],
        fingerprint: "fp".into(),
    }
}

fn ingest(at_ms: i64, alerts: &[(&str, &str, &str)]) -> CommandV1 {
    CommandV1::IngestAlerts(Ingest {
        received_at_ms: at_ms,
        received_by: 7,
        notification: notification("firing"),
        alerts: alerts
            .iter()
            .map(|(pod, status, starts)| AlertEvent {
                fingerprint: format!("fp-{pod}"),
                status: status.to_string(),
                labels: [("alertname", "Crash"), ("pod", pod)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                annotations: BTreeMap::new(),
                starts_at: starts.to_string(),
                ends_at: String::new(),
                generator_url: String::new(),
            })
            .collect(),
    })
}

/// A notification of `status` with nothing else set.
pub(super) fn notification(status: &str) -> Notification {
    Notification {
        version: "4".into(),
        group_key: "g".into(),
        truncated_alerts: 0,
        status: status.into(),
        receiver: "r".into(),
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        external_url: String::new(),
    }
}

pub(super) fn summary(r: Response) -> IngestSummary {
    match r {
        Response::Ingested(s) => s,
        other => panic!("expected ingest summary, got {other:?}"),
    }
}

#[test]
fn duplicate_delivery_creates_one_remediation() {
    let mut h = Harness::new();
    h.apply(catalog(OP));
    let first = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
    let again = summary(h.apply(ingest(2_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
    assert!(first.alerts[0].new);
    assert!(!again.alerts[0].new);
    assert_eq!(first.alerts[0].remediations.len(), 1);
    assert_eq!(first.alerts[0].remediations, again.alerts[0].remediations);
    assert_eq!(first.alerts[0].event_id, again.alerts[0].event_id);
}

#[test]
fn grouped_alerts_fan_out_with_their_own_status() {
    let mut h = Harness::new();
    h.apply(catalog(OP));
    let s = summary(h.apply(ingest(
        1_000,
        &[
            ("a", "firing", "2024-01-01T00:00:00Z"),
            ("b", "resolved", "2024-01-01T00:00:00Z"),
        ],
    )));
    assert_eq!(s.alerts.len(), 2);
    assert_eq!(s.alerts[0].status, "firing");
    assert_eq!(s.alerts[0].remediations.len(), 1, "firing alert matches");
    assert_eq!(s.alerts[1].status, "resolved");
    assert!(
        s.alerts[1].remediations.is_empty(),
        "selector wants firing only"
    );
}

#[test]
fn cooldown_skips_a_new_event_of_the_same_alert_until_it_expires() {
    let mut h = Harness::new();
    h.apply(catalog(OP));
    let a = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
    assert_eq!(a.alerts[0].remediations[0].state, RemediationState::Pending);
    let b = summary(h.apply(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])));
    assert_eq!(b.alerts[0].remediations[0].state, RemediationState::Skipped);
    let other = summary(h.apply(ingest(30_000, &[("z", "firing", "2024-01-01T00:05:00Z")])));
    assert_eq!(
        other.alerts[0].remediations[0].state,
        RemediationState::Pending,
        "per fingerprint"
    );
    let c = summary(h.apply(ingest(62_000, &[("a", "firing", "2024-01-01T00:09:00Z")])));
    // Out of cooldown; it waits only because the first run on pod `a` has not ended (one
    // remediation per target at a time).
    assert_eq!(c.alerts[0].remediations[0].state, RemediationState::Queued);
}

pub(super) fn history(h: &Harness) -> crate::remediation::History {
    crate::remediation::History::new(openfero_raft::KvReader::new_for_tests(h.tree.clone()))
}

fn ingest_of(c: CommandV1) -> Ingest {
    match c {
        CommandV1::IngestAlerts(i) => i,
        other => panic!("not an ingest: {other:?}"),
    }
}

#[test]
fn preview_decides_what_apply_decides_and_writes_nothing() {
    use crate::remediation::{preview, Verdict};
    let mut h = Harness::new();
    h.apply(catalog(OP));
    let before: Vec<_> = h.tree.iter().collect::<Result<_, _>>().expect("scan");

    let first = ingest(
        1_000,
        &[
            ("a", "firing", "2024-01-01T00:00:00Z"),
            ("b", "resolved", "2024-01-01T00:00:00Z"),
        ],
    );
    let p = preview(&history(&h), &ingest_of(first.clone())).expect("preview");
    let after: Vec<_> = h.tree.iter().collect::<Result<_, _>>().expect("scan");
    assert_eq!(before, after, "a preview writes nothing");
    assert_eq!(p.catalog_size, 1);
    assert_eq!(p.alerts[0].verdict(), Verdict::Runs);
    assert_eq!(p.alerts[1].verdict(), Verdict::NoMatch);
    let chosen = p.alerts[0].selected().expect("selected").clone();
    assert_eq!(chosen.operarius, "ops/restart");
    let job = chosen.rendered.as_ref().expect("rendered");
    assert_eq!(job.command, vec!["/bin/echo", "a"]);

    // Apply decides the same remediation, job name and rendering.
    let s = summary(h.apply(first.clone()));
    let rec = history(&h)
        .remediation(&s.alerts[0].remediations[0].id)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.id, chosen.remediation_id);
    assert_eq!(rec.job_name, chosen.job_name);
    assert_eq!(rec.rendered.as_ref(), Some(job));

    let again = preview(&history(&h), &ingest_of(first)).expect("preview");
    assert_eq!(again.alerts[0].verdict(), Verdict::AlreadyRecorded);
    let later = preview(
        &history(&h),
        &ingest_of(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])),
    )
    .expect("preview");
    assert_eq!(
        later.alerts[0].verdict(),
        Verdict::Skipped,
        "within the 60 s cooldown"
    );
    let s = summary(h.apply(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])));
    assert_eq!(s.alerts[0].remediations[0].state, RemediationState::Skipped);
}

#[test]
fn hourly_counts_equal_a_scan_through_ingest_finish_interrupt_and_prune() {
    use crate::remediation::hourly::{HourCounts, HOUR_MS};
    let mut h = Harness::new();
    h.apply(catalog(&OP.replace("ttl: 60", "ttl: 0")));
    let t0 = 1_000 * HOUR_MS;
    let check = |h: &Harness, what: &str| {
        let hist = history(h);
        let counted = hist.hourly(990, 1010).expect("counts");
        assert_eq!(
            counted,
            hist.hourly_by_scan(990, 1010).expect("scan"),
            "{what}"
        );
        counted
    };
    // Alerts over three hours, in arrival order; each firing one gets a remediation.
    let mut ids = Vec::new();
    for (i, at) in [t0 + 5, t0 + 10, t0 + HOUR_MS + 1, t0 + 3 * HOUR_MS - 1]
        .iter()
        .enumerate()
    {
        let pod = format!("p{i}");
        let status = if i == 1 { "resolved" } else { "firing" };
        let s = summary(h.apply(ingest(
            *at,
            &[(pod.as_str(), status, "2024-01-01T00:00:00Z")],
        )));
        ids.extend(s.alerts[0].remediations.iter().map(|r| r.id.clone()));
    }
    check(&h, "after ingest");
    let leader = LeaderId { term: 1, node: 7 };
    for (n, id) in ids.iter().enumerate() {
        h.apply(CommandV1::Start {
            id: id.clone(),
            at_ms: t0 + 20,
            leader,
            executor: "n".into(),
        });
        if n == 2 {
            h.apply(CommandV1::Interrupt {
                id: id.clone(),
                at_ms: t0 + 30,
                reason: "gone".into(),
            });
        } else {
            h.apply(CommandV1::Finish {
                id: id.clone(),
                at_ms: t0 + 30,
                outcome: if n == 0 {
                    Outcome::Succeeded { exit_code: 0 }
                } else {
                    Outcome::Failed {
                        exit_code: Some(1),
                        reason: "x".into(),
                    }
                },
                output_tail: String::new(),
            });
        }
    }
    let counts = check(&h, "after finish and interrupt");
    assert_eq!(
        counts[10],
        HourCounts {
            firing: 1,
            resolved: 1,
            succeeded: 1,
            failed: 0
        }
    );
    assert_eq!(
        counts[11],
        HourCounts {
            firing: 1,
            resolved: 0,
            succeeded: 0,
            failed: 1
        }
    );
    assert_eq!(
        counts[12],
        HourCounts {
            firing: 1,
            resolved: 0,
            succeeded: 0,
            failed: 1
        }
    );
    h.apply(CommandV1::Prune {
        keep_alerts: 2,
        max_remove: 100,
        now_ms: t0 + 3 * HOUR_MS,
    });
    let counts = check(&h, "after prune");
    assert_eq!(
        counts[10],
        HourCounts::default(),
        "both alerts of that hour pruned"
    );

    // A store written before the counts existed: the next command builds them.
    let hourly_keys: Vec<_> = h
        .tree
        .iter()
        .keys()
        .map(|k| k.expect("key"))
        .filter(|k| k[1..].starts_with(keys::HOURLY) || k[1..] == *keys::HOURLY_READY)
        .collect();
    assert!(!hourly_keys.is_empty());
    for k in hourly_keys {
        h.tree.remove(k).expect("remove");
    }
    check(&h, "old store, read by scan");
    h.apply(CommandV1::SetAutopilot { paused: false });
    assert!(history(&h).hourly(1010, 1010).is_ok());
    let rebuilt = check(&h, "rebuilt");
    assert_eq!(rebuilt, counts);

    // Hours older than two days are dropped by the next prune.
    h.apply(CommandV1::Prune {
        keep_alerts: 100,
        max_remove: 100,
        now_ms: t0 + 100 * HOUR_MS,
    });
    assert_eq!(
        history(&h).hourly(1000, 1002).expect("counts"),
        vec![HourCounts::default(); 3]
    );
}

#[test]
fn start_finish_and_fencing_follow_the_state_machine() {
    let mut h = Harness::new();
    h.apply(catalog(OP));
    let s = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
    let id = s.alerts[0].remediations[0].id.clone();
    let leader = LeaderId { term: 1, node: 7 };
    // Finishing before starting is refused.
    let r = h.apply(CommandV1::Finish {
        id: id.clone(),
        at_ms: 2,
        outcome: Outcome::Succeeded { exit_code: 0 },
        output_tail: String::new(),
    });
    assert!(matches!(r, Response::Refused(_)), "{r:?}");
    // A start proposed by a deposed leader is refused even though it was committed.
    let r = h.apply_as(
        CommandV1::Start {
            id: id.clone(),
            at_ms: 2,
            leader,
            executor: "n".into(),
        },
        2,
        8,
    );
    assert!(
        matches!(r, Response::Refused(ref m) if m.contains("stale leader")),
        "{r:?}"
    );
    let start = CommandV1::Start {
        id: id.clone(),
        at_ms: 3,
        leader,
        executor: "n".into(),
    };
    assert_eq!(h.apply(start.clone()), Response::Done);
    assert!(
        matches!(h.apply(start), Response::Refused(_)),
        "started once only"
    );
    let r = h.apply(CommandV1::Finish {
        id: id.clone(),
        at_ms: 4,
        outcome: Outcome::Failed {
            exit_code: Some(2),
            reason: "exited with code 2".into(),
        },
        output_tail: "boom".into(),
    });
    assert_eq!(r, Response::Done);
    let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
    let rec = crate::remediation::History::new(reader)
        .remediation(&id)
        .expect("read")
        .expect("exists");
    assert_eq!(rec.state, RemediationState::Failed);
    assert_eq!(rec.exit_code, Some(2));
    assert_eq!(rec.output_tail, "boom");
    assert_eq!(rec.started_by, Some(leader));
    let r = h.apply(CommandV1::Interrupt {
        id,
        at_ms: 5,
        reason: "x".into(),
    });
    assert!(
        matches!(r, Response::Refused(_)),
        "terminal states are final"
    );
}

#[test]
fn missing_template_key_fails_the_remediation_with_the_reason() {
    let mut h = Harness::new();
    h.apply(catalog(&OP.replace(".Labels.pod", ".Labels.container")));
    let s = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
    let r = &s.alerts[0].remediations[0];
    assert_eq!(r.state, RemediationState::Failed);
    let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
    let rec = crate::remediation::History::new(reader)
        .remediation(&r.id)
        .expect("read")
        .expect("exists");
    assert!(
        rec.reason.as_deref().unwrap_or("").contains("container"),
        "{:?}",
        rec.reason
    );
}

#[test]
fn prune_keeps_the_newest_alerts_and_open_remediations() {
    let mut h = Harness::new();
    h.apply(catalog(OP));
    for i in 0..10 {
        let pod = format!("p{i}");
        h.apply(ingest(
            1_000 + i,
            &[(pod.as_str(), "firing", "2024-01-01T00:00:00Z")],
        ));
    }
    let r = h.apply(CommandV1::Prune {
        keep_alerts: 4,
        max_remove: 100,
        now_ms: 10_000_000,
    });
    // All ten remediations are still pending, so none of them is removed.
    assert_eq!(
        r,
        Response::Pruned {
            alerts: 6,
            remediations: 0,
            cooldowns: 10
        }
    );
    let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
    let history = crate::remediation::History::new(reader);
    assert_eq!(history.live_alerts().expect("count"), 4);
    let alerts = history
        .alerts(&crate::remediation::AlertFilter::default(), 100)
        .expect("list");
    let pods: Vec<&str> = alerts.iter().map(|a| a.labels["pod"].as_str()).collect();
    assert_eq!(pods, vec!["p9", "p8", "p7", "p6"]);
    assert_eq!(history.open_remediations().expect("open").len(), 10);
    // A pruned event is forgotten: re-delivering it records it again.
    let s = summary(h.apply(ingest(2_000, &[("p0", "firing", "2024-01-01T00:00:00Z")])));
    assert!(s.alerts[0].new);
}

#[test]
fn the_autopilot_records_who_changed_it_and_old_entries_keep_their_encoding() {
    let mut h = Harness::new();
    assert_eq!(history(&h).autopilot_changed_by().expect("read"), None);
    h.apply(CommandV1::SetAutopilotBy {
        paused: true,
        by: "alice".into(),
    });
    assert!(history(&h).autopilot_paused().expect("read"));
    assert_eq!(
        history(&h).autopilot_changed_by().expect("read").as_deref(),
        Some("alice")
    );
    // An entry of an earlier release still applies as it did.
    h.apply(CommandV1::SetAutopilot { paused: false });
    assert!(!history(&h).autopilot_paused().expect("read"));

    // bincode numbers variants by position: the new one came last, the old ones kept theirs.
    let old =
        openfero_raft::codec::encode(&crate::remediation::Command::V1(CommandV1::SetAutopilot {
            paused: true,
        }))
        .expect("encode");
    assert_eq!(old, vec![0, 6, 1], "SetAutopilot is still variant 6");
    let new = openfero_raft::codec::encode(&crate::remediation::Command::V1(
        CommandV1::SetAutopilotBy {
            paused: true,
            by: "a".into(),
        },
    ))
    .expect("encode");
    assert_eq!(new[..2], [0, 9], "SetAutopilotBy is variant 9, the last");
}

/// Apply `entries` (index, payload) through the raft crate's state machine store, as a replica
/// does; the decoded response of each entry.
async fn apply_entries(
    sm: &mut openfero_raft::SmStore<RemediationMachine>,
    entries: Vec<(u64, openfero_raft::Payload)>,
) -> Vec<openfero_raft::Payload> {
    use openraft::storage::RaftStateMachine;
    let entries: Vec<openraft::Entry<openfero_raft::TypeConfig>> = entries
        .into_iter()
        .map(|(index, payload)| openraft::Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 7), index),
            payload: openraft::EntryPayload::Normal(payload),
        })
        .collect();
    sm.apply(entries).await.expect("apply")
}

fn encoded(c: CommandV1) -> Vec<u8> {
    openfero_raft::codec::encode(&Command::V1(c)).expect("encode")
}

fn decoded(bytes: &[u8]) -> Response {
    openfero_raft::codec::decode(bytes).expect("a response")
}

#[tokio::test]
async fn a_batch_entry_applies_in_order_and_records_an_event_repeated_in_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _log, mut sm) =
        openfero_raft::open_store(dir.path(), std::sync::Arc::new(RemediationMachine))
            .expect("store");
    // An entry written before batches existed: one command, as bytes of its own.
    let single = openfero_raft::Payload(encoded(catalog(OP)));
    let a = encoded(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")]));
    let b = encoded(ingest(1_000, &[("b", "firing", "2024-01-01T00:00:00Z")]));
    let a_again = encoded(ingest(1_001, &[("a", "firing", "2024-01-01T00:00:00Z")]));
    let batch = openfero_raft::batch_payload_for_tests(&[&a, &b, &a_again]);
    let out = apply_entries(&mut sm, vec![(1, single), (2, batch)]).await;
    assert_eq!(
        decoded(&out[0].0),
        Response::Done,
        "the old single entry applied"
    );

    let each: Vec<Vec<u8>> = openfero_raft::codec::decode(&out[1].0).expect("batch response");
    let each: Vec<IngestSummary> = each.iter().map(|r| summary(decoded(r))).collect();
    assert_eq!(each.len(), 3, "one response per command");
    let (a, b, a_again) = (&each[0].alerts[0], &each[1].alerts[0], &each[2].alerts[0]);
    assert!(a.new && b.new, "{a:?} {b:?}");
    assert_ne!(a.event_id, b.event_id);
    assert!(!a_again.new, "the repeat within the batch is a re-delivery");
    assert_eq!(a_again.event_id, a.event_id);
    assert_eq!(a_again.remediations, a.remediations);
    assert_eq!(
        a.remediations.len(),
        1,
        "the catalog of the earlier entry matched"
    );

    let history = crate::remediation::History::new(store.reader().expect("reader"));
    assert_eq!(history.live_alerts().expect("count"), 2);
    let stored = history.alerts(&Default::default(), 10).expect("alerts");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|r| r.log_index == 2));
    assert_eq!(
        history.remediations(None, 10).expect("remediations").len(),
        2
    );
}
