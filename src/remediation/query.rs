//! The read side: local, consistent-per-key views of the applied state.

use std::ops::ControlFlow;

use openfero_raft::{codec, KvError, KvReader};

use super::keys;
use super::record::{AlertHead, AlertRecord, OperariusStats, RemediationRecord, RemediationState};
use crate::ids::{EventId, RemediationId};
use crate::operarios::{BrokenOperarius, OperariusDef};

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Case-insensitive substring of the alertname, fingerprint, or any label or annotation value.
    pub q: Option<String>,
    /// `firing` or `resolved`.
    pub status: Option<String>,
    /// Exact value of the `severity` label.
    pub severity: Option<String>,
    /// Exact value of the `namespace` label.
    pub namespace: Option<String>,
    /// Exact alertname.
    pub alertname: Option<String>,
    /// Received at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
}

/// One page of alerts, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    /// Pass as `before` for the next (older) page; `None` when this page reaches the end.
    pub next_before: Option<u64>,
}

impl AlertFilter {
    /// The filter ready to test many records: the search text lowercased once.
    fn prepare(&self) -> Prepared<'_> {
        Prepared {
            filter: self,
            q: self.q.as_ref().map(|q| q.to_lowercase()),
            buf: String::new(),
        }
    }
}

struct Prepared<'f> {
    filter: &'f AlertFilter,
    q: Option<String>,
    /// Reused for lowercasing what is searched.
    buf: String,
}

impl Prepared<'_> {
    /// Received before the `since` bound (the scan, newest first, can stop).
    fn is_older(&self, a: &AlertHead<'_>) -> bool {
        self.filter.since_ms.is_some_and(|t| a.received_at_ms < t)
    }

    fn accepts(&mut self, a: &AlertHead<'_>) -> bool {
        let f = self.filter;
        let label_is = |name: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| a.labels.get(name).is_some_and(|v| v == w))
        };
        if f.status.as_ref().is_some_and(|s| a.status != s)
            || f.alertname.as_ref().is_some_and(|n| a.alertname != n)
            || self.is_older(a)
            || !label_is("severity", &f.severity)
            || !label_is("namespace", &f.namespace)
        {
            return false;
        }
        let Some(q) = &self.q else {
            return true;
        };
        if q.contains('\0') {
            let buf = &mut self.buf;
            let mut hit = |s: &str| contains_lowercase(s, q, buf);
            return hit(a.alertname)
                || hit(a.fingerprint)
                || a.labels.0.iter().any(|(k, v)| hit(k) || hit(v))
                || a.annotations.0.iter().any(|(_, v)| hit(v));
        }
        // Every searched text lowercased into one buffer, NUL-separated (a search text without
        // NUL cannot match across two of them), searched once.
        let buf = &mut self.buf;
        buf.clear();
        let mut add = |s: &str| {
            push_lowercase(buf, s);
            buf.push('\0');
        };
        add(a.alertname);
        add(a.fingerprint);
        for (k, v) in &a.labels.0 {
            add(k);
            add(v);
        }
        for (_, v) in &a.annotations.0 {
            add(v);
        }
        buf.contains(q.as_str())
    }
}

/// Append `s` lowercased; ASCII text (alert labels nearly always are) without allocating.
fn push_lowercase(buf: &mut String, s: &str) {
    if s.is_ascii() {
        let start = buf.len();
        buf.push_str(s);
        buf[start..].make_ascii_lowercase();
    } else {
        buf.push_str(&s.to_lowercase());
    }
}

/// Whether `hay`, lowercased, contains `needle` (already lowercase); `buf` is scratch space, so
/// that ASCII text (alert labels nearly always are) is lowercased without allocating.
fn contains_lowercase(hay: &str, needle: &str, buf: &mut String) -> bool {
    if hay.is_ascii() {
        if hay.len() < needle.len() {
            return false;
        }
        buf.clear();
        buf.push_str(hay);
        buf.make_ascii_lowercase();
        buf.contains(needle)
    } else {
        hay.to_lowercase().contains(needle)
    }
}

/// Read access to alerts, remediations and the catalog. Cheap to clone.
#[derive(Clone)]
pub struct History {
    reader: KvReader,
}

impl History {
    pub fn new(reader: KvReader) -> Self {
        Self { reader }
    }

    pub(super) fn reader(&self) -> &KvReader {
        &self.reader
    }

    /// Newest first, at most `limit`.
    pub fn alerts(&self, filter: &AlertFilter, limit: usize) -> Result<Vec<AlertRecord>, KvError> {
        Ok(self.alerts_page(filter, None, limit)?.alerts)
    }

    /// Newest first: at most `limit` alerts accepted by `filter` with a sequence number below
    /// `before` (all when `None`). Records are received in sequence order, so a `since_ms`
    /// filter stops the scan at the first older record. The filter looks at each record's
    /// borrowed [`AlertHead`]; only the records kept are decoded whole.
    pub fn alerts_page(
        &self,
        filter: &AlertFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<AlertPage, KvError> {
        let end = keys::with_seq(keys::ALERT, before.unwrap_or(u64::MAX));
        let mut filter = filter.prepare();
        let mut page = AlertPage::default();
        self.reader
            .scan_rev_before(keys::ALERT, &end, |_, v| -> Result<_, KvError> {
                let head: AlertHead<'_> = codec::decode_prefix(v)?;
                if filter.is_older(&head) {
                    return Ok(ControlFlow::Break(()));
                }
                if filter.accepts(&head) {
                    if page.alerts.len() == limit {
                        page.next_before = page.alerts.last().map(|a| a.seq);
                        return Ok(ControlFlow::Break(()));
                    }
                    page.alerts.push(codec::decode(v)?);
                }
                Ok(ControlFlow::Continue(()))
            })?;
        Ok(page)
    }

    /// Oldest first: at most `limit` alerts with a sequence number above `after` that were
    /// received at or after `since_ms` (the export's chunks; pass the last one's `seq` as
    /// `after` for the next). Older records are skipped on their borrowed [`AlertHead`].
    pub fn alerts_after(
        &self,
        after: u64,
        since_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, KvError> {
        let from = keys::with_seq(keys::ALERT, after.saturating_add(1));
        let mut out = Vec::new();
        for item in self.reader.iter_prefix_from(keys::ALERT, &from) {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            if let Some(since) = since_ms {
                let head: AlertHead<'_> = codec::decode_prefix(&v)?;
                if head.received_at_ms < since {
                    continue;
                }
            }
            out.push(codec::decode(&v)?);
        }
        Ok(out)
    }

    /// Calls `f` with every alert received at or after `since_ms`, newest first.
    pub fn for_each_alert_since(
        &self,
        since_ms: i64,
        mut f: impl FnMut(&AlertRecord),
    ) -> Result<(), KvError> {
        for item in self.reader.iter_prefix(keys::ALERT).rev() {
            let (_, v) = item?;
            let rec: AlertRecord = codec::decode(&v)?;
            if rec.received_at_ms < since_ms {
                break;
            }
            f(&rec);
        }
        Ok(())
    }

    /// Calls `f` with every remediation created at or after `since_ms`, newest first.
    pub fn for_each_remediation_since(
        &self,
        since_ms: i64,
        mut f: impl FnMut(&RemediationRecord),
    ) -> Result<(), KvError> {
        for item in self.reader.iter_prefix(keys::REMEDIATION).rev() {
            let (_, v) = item?;
            let rec: RemediationRecord = codec::decode(&v)?;
            if rec.created_at_ms < since_ms {
                break;
            }
            f(&rec);
        }
        Ok(())
    }

    /// The alert with sequence number `seq`, if still held.
    pub fn alert(&self, seq: u64) -> Result<Option<AlertRecord>, KvError> {
        self.reader.get_as(&keys::with_seq(keys::ALERT, seq))
    }

    /// The sequence number of the alert recorded for `event`, if it is recorded (and not pruned).
    pub fn event_seq(&self, event: &EventId) -> Result<Option<u64>, KvError> {
        self.reader
            .get_as(&keys::with_str(keys::EVENT, event.as_str()))
    }

    /// Until when (ms) the operarius `operarius` (`namespace/name`) keeps a cooldown on the alert
    /// `fingerprint`, as last recorded (an expired one may not have been pruned yet).
    pub fn cooldown_until(
        &self,
        operarius: &str,
        fingerprint: &str,
    ) -> Result<Option<i64>, KvError> {
        self.reader.get_as(&keys::cooldown(operarius, fingerprint))
    }

    /// Newest first, at most `limit`, optionally only in one state.
    pub fn remediations(
        &self,
        state: Option<RemediationState>,
        limit: usize,
    ) -> Result<Vec<RemediationRecord>, KvError> {
        let mut out = Vec::new();
        for item in self.reader.iter_prefix(keys::REMEDIATION).rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            let rec: RemediationRecord = codec::decode(&v)?;
            if state.is_none_or(|s| s == rec.state) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    pub fn remediation(&self, id: &RemediationId) -> Result<Option<RemediationRecord>, KvError> {
        let Some(seq) = self
            .reader
            .get_as::<u64>(&keys::with_str(keys::REMEDIATION_ID, id.as_str()))?
        else {
            return Ok(None);
        };
        self.reader.get_as(&keys::with_seq(keys::REMEDIATION, seq))
    }

    /// Pending and running remediations, oldest first: the executor's work list.
    pub fn open_remediations(&self) -> Result<Vec<RemediationRecord>, KvError> {
        let mut out = Vec::new();
        for item in self.reader.iter_prefix(keys::OPEN) {
            let (k, _) = item?;
            let Some(seq) = keys::seq_of(&k) else {
                continue;
            };
            if let Some(rec) = self
                .reader
                .get_as(&keys::with_seq(keys::REMEDIATION, seq))?
            {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The replicated catalog and its fingerprint (`None` before the first sync).
    pub fn catalog(&self) -> Result<(Vec<OperariusDef>, Option<String>), KvError> {
        let list = self.reader.get_as(keys::CATALOG)?.unwrap_or_default();
        let fp = self.reader.get_as(keys::CATALOG_FINGERPRINT)?;
        Ok((list, fp))
    }

    /// Broken operarios of the replicated catalog: they claim their alerts only to fail them.
    pub fn broken_operarios(&self) -> Result<Vec<BrokenOperarius>, KvError> {
        Ok(self
            .reader
            .get_as(keys::CATALOG_BROKEN)?
            .unwrap_or_default())
    }

    /// The replicated guard rails (`None` before any were synced: defaults everywhere).
    pub fn guards(&self) -> Result<Option<super::StoredGuards>, KvError> {
        Ok(super::StoredGuards::pick(
            self.reader.get_as(keys::RAILS)?,
            self.reader.get_as(keys::GUARDS)?,
        ))
    }

    /// A transaction over the applied state that is never committed (see
    /// [`openfero_raft::KvReader::rehearsal`]).
    pub(super) fn rehearsal(&self) -> openfero_raft::KvTxn<'_> {
        self.reader.rehearsal()
    }

    /// How full every budget that has counted something is at `now_ms`: per operarius and
    /// target, per namespace and cluster-wide, each window with its use.
    pub fn budgets(&self, now_ms: i64) -> Result<Vec<BudgetUse>, KvError> {
        let guards = self.guards()?.unwrap_or_default();
        let mut out = Vec::new();
        for item in self.reader.iter_prefix(keys::BUDGET) {
            let (k, v) = item?;
            let times: Vec<i64> = codec::decode(&v)?;
            let rest = &k[keys::BUDGET.len()..];
            let Some(nul) = rest.iter().position(|b| *b == 0) else {
                continue;
            };
            let kind = String::from_utf8_lossy(&rest[..nul]).into_owned();
            let name = String::from_utf8_lossy(&rest[nul + 1..]).into_owned();
            let (scope, windows) = match kind.as_str() {
                "t" => {
                    let (operarius, target) = name.split_once('\u{1f}').unwrap_or((&name, ""));
                    (
                        format!("operarius `{operarius}` on target `{target}`"),
                        guards.of(operarius).budgets,
                    )
                }
                "n" => (
                    format!("namespace `{name}`"),
                    guards.cluster.per_namespace.clone(),
                ),
                _ => ("cluster".to_owned(), guards.cluster.global.clone()),
            };
            let windows = windows
                .iter()
                .map(|w| {
                    let inside: Vec<i64> = times
                        .iter()
                        .copied()
                        .filter(|t| now_ms - *t < w.per_ms)
                        .collect();
                    let full = inside.len() >= w.max as usize;
                    WindowUse {
                        window: *w,
                        used: inside.len() as u32,
                        frees_at_ms: full.then(|| inside[inside.len() - w.max as usize] + w.per_ms),
                    }
                })
                .collect();
            out.push(BudgetUse { scope, windows });
        }
        Ok(out)
    }

    /// The approval record of a remediation awaiting approval.
    pub fn awaiting(&self, seq: u64) -> Result<Option<super::Awaiting>, KvError> {
        self.reader.get_as(&keys::with_seq(keys::AWAITING, seq))
    }

    /// Whether some remediation's approval deadline has passed at `now_ms`.
    pub fn approvals_due(&self, now_ms: i64) -> Result<bool, KvError> {
        for item in self.reader.iter_prefix(keys::AWAITING) {
            let (_, v) = item?;
            let a: super::Awaiting = codec::decode(&v)?;
            if a.deadline_ms <= now_ms {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The global pause switch (default: not paused).
    pub fn pause(&self) -> Result<super::PauseState, KvError> {
        Ok(self.reader.get_as(keys::PAUSE)?.unwrap_or_default())
    }

    /// Every loop breaker that has counted something, open or not, by operarius then target.
    pub fn breakers(&self) -> Result<Vec<super::BreakerRecord>, KvError> {
        let mut out = Vec::new();
        for item in self.reader.iter_prefix(keys::BREAKER) {
            let (_, v) = item?;
            out.push(codec::decode(&v)?);
        }
        Ok(out)
    }

    /// Fingerprint of the replicated catalog (`None` before the first sync).
    pub fn catalog_fingerprint(&self) -> Result<Option<String>, KvError> {
        self.reader.get_as(keys::CATALOG_FINGERPRINT)
    }

    /// Execution statistics of one operarius (`namespace/name`).
    pub fn operarius_stats(&self, key: &str) -> Result<OperariusStats, KvError> {
        Ok(self
            .reader
            .get_as(&keys::with_str(keys::OPERARIUS_STATS, key))?
            .unwrap_or_default())
    }

    /// Remediations with a sequence number above `after`, oldest first, at most `limit`.
    pub fn remediations_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RemediationRecord>, KvError> {
        let start = keys::with_seq(keys::REMEDIATION, after.saturating_add(1));
        let mut out = Vec::new();
        for item in self.reader.iter_prefix_from(keys::REMEDIATION, &start) {
            let (_, v) = item?;
            out.push(codec::decode(&v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The highest remediation sequence number so far.
    pub fn last_remediation_seq(&self) -> Result<u64, KvError> {
        Ok(self.reader.get_as(keys::NEXT_REMEDIATION_SEQ)?.unwrap_or(0))
    }

    /// Node ids removed from the cluster (never re-added).
    pub fn removed_nodes(&self) -> Result<Vec<u64>, KvError> {
        let mut out = Vec::new();
        for item in self.reader.iter_prefix(keys::REMOVED_NODE) {
            let (k, _) = item?;
            if let Some(id) = keys::seq_of(&k) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Whether `node` was removed from the cluster (it is never re-added).
    pub fn node_removed(&self, node: u64) -> Result<bool, KvError> {
        Ok(self
            .reader
            .get(&keys::with_seq(keys::REMOVED_NODE, node))?
            .is_some())
    }

    /// Whether the membership autopilot is paused (admin API).
    pub fn autopilot_paused(&self) -> Result<bool, KvError> {
        Ok(self.reader.get_as(keys::AUTOPILOT_PAUSED)?.unwrap_or(false))
    }

    /// Who last paused or resumed the autopilot, when recorded (`SetAutopilotBy`).
    pub fn autopilot_changed_by(&self) -> Result<Option<String>, KvError> {
        self.reader.get_as(keys::AUTOPILOT_BY)
    }

    /// Alerts currently held (after retention).
    pub fn live_alerts(&self) -> Result<u64, KvError> {
        Ok(self.reader.get_as(keys::LIVE_ALERTS)?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{contains_lowercase, AlertFilter};
    use crate::ids::EventId;
    use crate::remediation::record::{AlertHead, AlertRecord};

    fn record() -> AlertRecord {
        let labels: BTreeMap<String, String> = [
            ("alertname", "DiskFull"),
            ("pod", "DB-1"),
            ("zone", "Zürich"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AlertRecord {
            seq: 1,
            event_id: EventId("e".into()),
            fingerprint: "ab12".into(),
            status: "firing".into(),
            alertname: "DiskFull".into(),
            labels,
            annotations: [("summary".to_string(), "Disk nearly full".to_string())].into(),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: "http://prometheus/needle".into(),
            group_key: String::new(),
            receiver: String::new(),
            external_url: String::new(),
            received_at_ms: 0,
            received_by: 0,
            log_index: 0,
            remediations: Vec::new(),
        }
    }

    #[test]
    fn search_matches_within_one_searched_text_only() {
        let bytes = openfero_raft::codec::encode(&record()).expect("encode");
        let head: AlertHead<'_> = openfero_raft::codec::decode_prefix(&bytes).expect("decode");
        let matches = |q: &str| {
            let f = AlertFilter {
                q: Some(q.to_string()),
                ..AlertFilter::default()
            };
            f.prepare().accepts(&head)
        };
        for q in [
            "diskfull",
            "db-1",
            "AB12",
            "zone",
            "zürich",
            "ZÜRICH",
            "nearly full",
        ] {
            assert!(matches(q), "{q}");
        }
        for q in ["db-1zone", "full\0db", "needle", "firing"] {
            assert!(
                !matches(q),
                "{q}: not across texts, not in unsearched fields"
            );
        }
    }

    #[test]
    fn search_is_case_insensitive_for_ascii_and_unicode() {
        let mut buf = String::new();
        assert!(contains_lowercase("Pod-DB-1", "db-1", &mut buf));
        assert!(!contains_lowercase("db", "db-1", &mut buf));
        assert!(contains_lowercase(
            "ÜBERLAST im Cluster",
            "überlast",
            &mut buf
        ));
        assert!(!contains_lowercase("Überlast", "last!", &mut buf));
        assert!(contains_lowercase("anything", "", &mut buf));
    }
}

/// One budget scope and how full each of its windows is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUse {
    pub scope: String,
    pub windows: Vec<WindowUse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowUse {
    pub window: crate::operarios::WindowDef,
    pub used: u32,
    /// When the window is full: when its oldest counted admission leaves it.
    pub frees_at_ms: Option<i64>,
}
