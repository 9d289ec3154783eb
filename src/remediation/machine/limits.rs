//! Limits: whether an admitted remediation may run now, later or not at all — budgets over time
//! windows, concurrency slots and the queue, the loop breaker and the global pause.
//!
//! Every decision is taken in apply from replicated state and proposer-stamped times, so every
//! replica and every future leader agrees, and a failover neither forgets nor double counts:
//! - **budgets** count admissions (pending or queued) in sliding windows per operarius and
//!   target, per alert namespace and over the cluster; a full window holds the remediation;
//! - **concurrency** counts admitted, unfinished remediations per operarius and per target;
//!   extras queue and are promoted in arrival order when a slot frees;
//! - the **breaker** of an operarius and target opens after N failed (or interrupted) or N
//!   ineffective runs within its window — ineffective: the alert fired again soon after a
//!   succeeded run — and holds further ones until an operator resets it or the cool-off ends;
//! - the **pause** queues everything that would start, and resuming promotes in order.
//!
//! Times: [`clock`] makes the time of a decision `max(stamped, latest applied)`, so a leader
//! whose clock is behind cannot reopen a window or end a cool-off early.

use openfero_raft::{KvError, KvTxn};
use serde::{Deserialize, Serialize};

use super::super::keys;
use super::super::record::{RemediationRecord, RemediationState};
use super::save_remediation;
use crate::operarios::{
    format_duration_ms, ClusterGuards, ClusterGuardsV1, GuardsDef, GuardsDefV1, WindowDef,
};

/// Queued remediations looked at per promotion, so one apply stays bounded in a storm.
const PROMOTE_SCAN: usize = 10_000;

/// The decision time for a command stamped `stamped_ms`: never before one already applied.
pub(super) fn clock(kv: &mut KvTxn<'_>, stamped_ms: i64) -> Result<i64, KvError> {
    let latest = kv.get_as::<i64>(keys::CLOCK)?.unwrap_or(i64::MIN);
    let now = stamped_ms.max(latest);
    if now != latest {
        kv.put_as(keys::CLOCK, &now)?;
    }
    Ok(now)
}

/// The replicated guard rails: per operarius and cluster-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGuards {
    pub operarios: std::collections::BTreeMap<String, GuardsDef>,
    pub cluster: ClusterGuards,
}

/// [`StoredGuards`] as the first guard-rails release stored it (`cfg/guards`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGuardsV1 {
    pub operarios: std::collections::BTreeMap<String, GuardsDefV1>,
    pub cluster: ClusterGuardsV1,
}

impl From<StoredGuardsV1> for StoredGuards {
    fn from(v: StoredGuardsV1) -> Self {
        Self {
            operarios: v
                .operarios
                .into_iter()
                .map(|(k, g)| (k, g.into()))
                .collect(),
            cluster: v.cluster.into(),
        }
    }
}

impl StoredGuards {
    pub fn load(kv: &KvTxn<'_>) -> Result<Self, KvError> {
        Ok(Self::pick(kv.get_as(keys::RAILS)?, kv.get_as(keys::GUARDS)?).unwrap_or_default())
    }

    /// The stored guard rails: the current shape if written, else the first release's.
    pub fn pick(rails: Option<Self>, v1: Option<StoredGuardsV1>) -> Option<Self> {
        rails.or_else(|| v1.map(Self::from))
    }

    /// The first release's shape, if nothing newer is set.
    pub fn as_v1(&self) -> Option<StoredGuardsV1> {
        let mut operarios = std::collections::BTreeMap::new();
        for (k, g) in &self.operarios {
            operarios.insert(k.clone(), g.as_v1()?);
        }
        Some(StoredGuardsV1 {
            operarios,
            cluster: self.cluster.as_v1()?,
        })
    }

    pub fn of(&self, operarius: &str) -> GuardsDef {
        self.operarios.get(operarius).cloned().unwrap_or_default()
    }
}

/// The pause switch as replicated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseState {
    pub paused: bool,
    pub by: String,
    pub at_ms: i64,
}

/// What an admitted remediation counts against, kept until it finishes (so a change of the
/// guards meanwhile cannot unbalance the counters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub operarius: String,
    pub target: String,
}

/// An open breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBreaker {
    pub at_ms: i64,
    pub reason: String,
    /// The cool-off's end; `None`: until an operator resets it.
    pub until_ms: Option<i64>,
}

/// The loop breaker of one operarius and target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerRecord {
    pub operarius: String,
    pub target: String,
    /// Times of failed (and, if counted, interrupted) runs inside the window.
    pub failures: Vec<i64>,
    /// Times of ineffective runs inside the window.
    pub ineffective: Vec<i64>,
    pub open: Option<OpenBreaker>,
    /// The last reset: who and when.
    pub reset_by: Option<String>,
    pub reset_at_ms: Option<i64>,
}

impl BreakerRecord {
    /// Open and not cooled off at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.until_ms.is_none_or(|u| now < u))
    }
}

fn slot_key(seq: u64) -> Vec<u8> {
    keys::with_seq(&[keys::ACTIVE, b"r/"].concat(), seq)
}

fn active_key(kind: &str, name: &str) -> Vec<u8> {
    keys::with_str(&[keys::ACTIVE, kind.as_bytes()].concat(), name)
}

fn active(kv: &KvTxn<'_>, kind: &str, name: &str) -> Result<u32, KvError> {
    Ok(kv.get_as(&active_key(kind, name))?.unwrap_or(0))
}

fn add_active(kv: &mut KvTxn<'_>, slot: &Slot, up: bool) -> Result<(), KvError> {
    for (kind, name) in [("o/", &slot.operarius), ("t/", &slot.target)] {
        let key = active_key(kind, name);
        let n: u32 = kv.get_as(&key)?.unwrap_or(0);
        let n = if up {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        if n == 0 {
            kv.delete(&key);
        } else {
            kv.put_as(&key, &n)?;
        }
    }
    Ok(())
}

fn paused(kv: &KvTxn<'_>) -> Result<Option<PauseState>, KvError> {
    Ok(kv.get_as::<PauseState>(keys::PAUSE)?.filter(|p| p.paused))
}

/// Why `slot` cannot take a concurrency slot now, if it cannot.
fn no_slot(kv: &KvTxn<'_>, guards: &GuardsDef, slot: &Slot) -> Result<Option<String>, KvError> {
    if let Some(p) = paused(kv)? {
        return Ok(Some(format!("paused by {}: starts when resumed", p.by)));
    }
    if let Some(max) = guards.per_operarius {
        let n = active(kv, "o/", &slot.operarius)?;
        if n >= max {
            return Ok(Some(format!(
                "concurrency: `{}` has {n} of {max} remediations in progress",
                slot.operarius
            )));
        }
    }
    let n = active(kv, "t/", &slot.target)?;
    if n >= guards.per_target {
        return Ok(Some(format!(
            "concurrency: target `{}` has {n} of {} remediations in progress",
            slot.target, guards.per_target
        )));
    }
    Ok(None)
}

/// A budget scope: its key and windows.
struct Scope<'a> {
    what: String,
    key: Vec<u8>,
    windows: &'a [WindowDef],
}

fn scopes<'a>(
    guards: &'a GuardsDef,
    cluster: &'a ClusterGuards,
    slot: &Slot,
    namespace: &str,
) -> Vec<Scope<'a>> {
    let mut out = Vec::new();
    if !guards.budgets.is_empty() {
        out.push(Scope {
            what: format!("`{}` on target `{}`", slot.operarius, slot.target),
            key: keys::pair(
                keys::BUDGET,
                "t",
                &format!("{}\u{1f}{}", slot.operarius, slot.target),
            ),
            windows: &guards.budgets,
        });
    }
    if !cluster.per_namespace.is_empty() {
        out.push(Scope {
            what: format!("namespace `{namespace}`"),
            key: keys::pair(keys::BUDGET, "n", namespace),
            windows: &cluster.per_namespace,
        });
    }
    if !cluster.global.is_empty() {
        out.push(Scope {
            what: "the cluster".into(),
            key: keys::pair(keys::BUDGET, "g", ""),
            windows: &cluster.global,
        });
    }
    out
}

/// Admission times of `scope` still inside its longest window at `now`, oldest first.
fn recent(kv: &KvTxn<'_>, scope: &Scope<'_>, now: i64) -> Result<Vec<i64>, KvError> {
    let longest = scope.windows.iter().map(|w| w.per_ms).max().unwrap_or(0);
    let mut times: Vec<i64> = kv.get_as(&scope.key)?.unwrap_or_default();
    times.retain(|t| now - *t < longest);
    Ok(times)
}

/// The first full window of `scope` at `now`, as a reason.
fn full_window(times: &[i64], scope: &Scope<'_>, now: i64) -> Option<String> {
    scope.windows.iter().find_map(|w| {
        let inside: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| now - *t < w.per_ms)
            .collect();
        let max = w.max as usize;
        (inside.len() >= max).then(|| {
            let frees = inside[inside.len() - max] + w.per_ms;
            format!(
                "budget: {} used {} of {} per {} (a slot frees at {})",
                scope.what,
                inside.len(),
                w.max,
                format_duration_ms(w.per_ms),
                crate::time::format_ms(frees)
            )
        })
    })
}

/// A new remediation of `def_key` for an alert (`fingerprint`, `status`, `namespace` label),
/// already rendered: pending, queued or held, with the reason. Charges the budgets and takes a
/// concurrency slot when it is admitted.
pub(super) fn admit(
    kv: &mut KvTxn<'_>,
    rec: &RemediationRecord,
    guards: &StoredGuards,
    target: String,
    namespace: &str,
    now: i64,
) -> Result<(RemediationState, Option<String>), KvError> {
    let def = guards.of(&rec.operarius);
    let slot = Slot {
        operarius: rec.operarius.clone(),
        target,
    };
    if let Some(reason) = breaker_on_admission(kv, &def, rec, &slot, now)? {
        return Ok((RemediationState::Held, Some(reason)));
    }
    let scopes = scopes(&def, &guards.cluster, &slot, namespace);
    let mut charged = Vec::with_capacity(scopes.len());
    for scope in &scopes {
        let times = recent(kv, scope, now)?;
        if let Some(reason) = full_window(&times, scope, now) {
            if !super::controls::chaos_break_guards() {
                return Ok((RemediationState::Held, Some(reason)));
            }
        }
        charged.push(times);
    }
    for (scope, mut times) in scopes.iter().zip(charged) {
        times.push(now);
        kv.put_as(&scope.key, &times)?;
    }
    kv.put_as(&slot_key(rec.seq), &slot)?;
    match no_slot(kv, &def, &slot)? {
        Some(reason) => {
            kv.put(&keys::with_seq(keys::QUEUED, rec.seq), Vec::new());
            Ok((RemediationState::Queued, Some(reason)))
        }
        None => {
            add_active(kv, &slot, true)?;
            Ok((RemediationState::Pending, None))
        }
    }
}

/// Give back the concurrency slot (or queue place) `admit` took for remediation `seq`, without
/// a run: a shadow decision runs nothing. The budgets stay charged.
pub(super) fn discharge(kv: &mut KvTxn<'_>, seq: u64) -> Result<(), KvError> {
    let Some(slot) = kv.get_as::<Slot>(&slot_key(seq))? else {
        return Ok(());
    };
    kv.delete(&slot_key(seq));
    let queued = keys::with_seq(keys::QUEUED, seq);
    if kv.get(&queued)?.is_some() {
        kv.delete(&queued);
    } else {
        add_active(kv, &slot, false)?;
    }
    Ok(())
}

fn breaker_key(slot: &Slot) -> Vec<u8> {
    keys::pair(keys::BREAKER, &slot.operarius, &slot.target)
}

fn load_breaker(kv: &KvTxn<'_>, slot: &Slot) -> Result<BreakerRecord, KvError> {
    Ok(kv
        .get_as(&breaker_key(slot))?
        .unwrap_or_else(|| BreakerRecord {
            operarius: slot.operarius.clone(),
            target: slot.target.clone(),
            ..BreakerRecord::default()
        }))
}

/// Count an ineffective run when this firing alert follows a success too soon; the reason to
/// hold it when the breaker is (or just became) open.
fn breaker_on_admission(
    kv: &mut KvTxn<'_>,
    def: &GuardsDef,
    rec: &RemediationRecord,
    slot: &Slot,
    now: i64,
) -> Result<Option<String>, KvError> {
    let Some(b) = &def.breaker else {
        return Ok(None);
    };
    let mut state = load_breaker(kv, slot)?;
    let before = state.clone();
    if state.open.as_ref().is_some_and(|_| !state.is_open(now)) {
        // Cooled off: closed, counting afresh.
        state.open = None;
        state.failures.clear();
        state.ineffective.clear();
    }
    let success_key = keys::pair(keys::LAST_SUCCESS, &rec.operarius, &rec.fingerprint);
    if rec.alert_status == "firing" {
        if let Some(at) = kv.get_as::<i64>(&success_key)? {
            kv.delete(&success_key);
            if now - at <= b.ineffective_within_ms {
                state.ineffective.push(now);
            }
        }
    }
    state.ineffective.retain(|t| now - *t < b.window_ms);
    state.failures.retain(|t| now - *t < b.window_ms);
    if state.open.is_none() {
        if let Some(max) = b.max_ineffective {
            if state.ineffective.len() >= max as usize {
                let why = format!(
                    "{} ineffective runs within {} (the alert fired again within {} of a success)",
                    state.ineffective.len(),
                    format_duration_ms(b.window_ms),
                    format_duration_ms(b.ineffective_within_ms)
                );
                open(&mut state, b, now, why);
            }
        }
    }
    let reason = state.is_open(now).then(|| held_by_breaker(&state));
    if state != before {
        kv.put_as(&breaker_key(slot), &state)?;
    }
    Ok(reason)
}

fn open(state: &mut BreakerRecord, b: &crate::operarios::BreakerDef, now: i64, why: String) {
    state.open = Some(OpenBreaker {
        at_ms: now,
        reason: why,
        until_ms: b.cool_off_ms.map(|c| now.saturating_add(c)),
    });
}

fn held_by_breaker(state: &BreakerRecord) -> String {
    let open = state.open.as_ref().expect("an open breaker");
    let until = match open.until_ms {
        Some(u) => format!("until {}", crate::time::format_ms(u)),
        None => "until an operator resets it".into(),
    };
    format!(
        "breaker open for `{}` on target `{}` since {}: {}; {until}",
        state.operarius,
        state.target,
        crate::time::format_ms(open.at_ms),
        open.reason
    )
}

/// A remediation left pending or running for a final state: free its slot, count its outcome
/// for the breaker, and promote what was queued behind it.
pub(super) fn released(
    kv: &mut KvTxn<'_>,
    rec: &RemediationRecord,
    now: i64,
) -> Result<(), KvError> {
    let Some(slot) = kv.get_as::<Slot>(&slot_key(rec.seq))? else {
        // Admitted before guard rails existed: nothing was counted.
        return promote(kv);
    };
    kv.delete(&slot_key(rec.seq));
    add_active(kv, &slot, false)?;
    let guards = StoredGuards::load(kv)?;
    if let Some(b) = guards.of(&rec.operarius).breaker {
        let counts_as_failure = match rec.state {
            RemediationState::Failed => true,
            RemediationState::Interrupted => b.count_interrupted,
            _ => false,
        };
        if rec.state == RemediationState::Succeeded {
            kv.put_as(
                &keys::pair(keys::LAST_SUCCESS, &rec.operarius, &rec.fingerprint),
                &now,
            )?;
        }
        if counts_as_failure {
            let mut state = load_breaker(kv, &slot)?;
            state.failures.retain(|t| now - *t < b.window_ms);
            state.failures.push(now);
            if let Some(max) = b.max_failed {
                if state.open.is_none() && state.failures.len() >= max as usize {
                    let why = format!(
                        "{} failed runs within {}",
                        state.failures.len(),
                        format_duration_ms(b.window_ms)
                    );
                    open(&mut state, &b, now, why);
                }
            }
            kv.put_as(&breaker_key(&slot), &state)?;
        }
    }
    promote(kv)
}

/// A succeeded run whose alert did not resolve within its verification window (`verify`):
/// one ineffective run for the loop breaker of its operarius and target, as a firing alert
/// right after a success counts at admission.
pub(super) fn count_ineffective(
    kv: &mut KvTxn<'_>,
    rec: &RemediationRecord,
    labels: &std::collections::BTreeMap<String, String>,
    now: i64,
) -> Result<(), KvError> {
    let guards = StoredGuards::load(kv)?;
    let def = guards.of(&rec.operarius);
    let Some(b) = &def.breaker else {
        return Ok(());
    };
    let slot = Slot {
        operarius: rec.operarius.clone(),
        target: def.target(labels),
    };
    // Counted here, so the next firing of the same alert must not count it a second time.
    kv.delete(&keys::pair(
        keys::LAST_SUCCESS,
        &rec.operarius,
        &rec.fingerprint,
    ));
    let mut state = load_breaker(kv, &slot)?;
    state.ineffective.retain(|t| now - *t < b.window_ms);
    state.ineffective.push(now);
    if let Some(max) = b.max_ineffective {
        if state.open.is_none() && state.ineffective.len() >= max as usize {
            let why = format!(
                "{} ineffective runs within {} (the alert did not resolve after a success)",
                state.ineffective.len(),
                format_duration_ms(b.window_ms)
            );
            open(&mut state, b, now, why);
        }
    }
    kv.put_as(&breaker_key(&slot), &state)
}

/// Promote queued remediations, oldest first, while slots are free and nothing is paused.
pub(super) fn promote(kv: &mut KvTxn<'_>) -> Result<(), KvError> {
    if paused(kv)?.is_some() {
        return Ok(());
    }
    let queued: Vec<u64> = kv
        .scan_prefix(keys::QUEUED, PROMOTE_SCAN)?
        .iter()
        .filter_map(|(k, _)| keys::seq_of(k))
        .collect();
    if queued.is_empty() {
        return Ok(());
    }
    let guards = StoredGuards::load(kv)?;
    for seq in queued {
        let Some(mut rec) =
            kv.get_as::<RemediationRecord>(&keys::with_seq(keys::REMEDIATION, seq))?
        else {
            kv.delete(&keys::with_seq(keys::QUEUED, seq));
            continue;
        };
        let Some(slot) = kv.get_as::<Slot>(&slot_key(seq))? else {
            kv.delete(&keys::with_seq(keys::QUEUED, seq));
            continue;
        };
        if no_slot(kv, &guards.of(&rec.operarius), &slot)?.is_some() {
            continue;
        }
        add_active(kv, &slot, true)?;
        kv.delete(&keys::with_seq(keys::QUEUED, seq));
        rec.state = RemediationState::Pending;
        rec.reason = rec.reason.map(|r| format!("was queued: {r}"));
        save_remediation(kv, &rec)?;
    }
    Ok(())
}

/// The pause switch. Pausing queues the pending remediations that have not started (running
/// ones finish); resuming promotes in order.
pub(super) fn set_paused(
    kv: &mut KvTxn<'_>,
    paused_now: bool,
    by: String,
    at_ms: i64,
) -> Result<(), KvError> {
    kv.put_as(
        keys::PAUSE,
        &PauseState {
            paused: paused_now,
            by: by.clone(),
            at_ms,
        },
    )?;
    if !paused_now {
        return promote(kv);
    }
    let open: Vec<u64> = kv
        .scan_prefix(keys::OPEN, usize::MAX)?
        .iter()
        .filter_map(|(k, _)| keys::seq_of(k))
        .collect();
    for seq in open {
        let Some(mut rec) =
            kv.get_as::<RemediationRecord>(&keys::with_seq(keys::REMEDIATION, seq))?
        else {
            continue;
        };
        if rec.state != RemediationState::Pending {
            continue;
        }
        if let Some(slot) = kv.get_as::<Slot>(&slot_key(seq))? {
            add_active(kv, &slot, false)?;
        } else {
            // Admitted before guard rails: give it a slot record so promotion can place it.
            let slot = Slot {
                operarius: rec.operarius.clone(),
                target: String::new(),
            };
            kv.put_as(&slot_key(seq), &slot)?;
        }
        kv.put(&keys::with_seq(keys::QUEUED, seq), Vec::new());
        rec.state = RemediationState::Queued;
        rec.reason = Some(format!("paused by {by}: starts when resumed"));
        save_remediation(kv, &rec)?;
    }
    Ok(())
}

/// Close a breaker and forget its counts; answers whether it had any record.
pub(super) fn reset_breaker(
    kv: &mut KvTxn<'_>,
    operarius: String,
    target: String,
    by: String,
    at_ms: i64,
) -> Result<bool, KvError> {
    let slot = Slot { operarius, target };
    let Some(mut state) = kv.get_as::<BreakerRecord>(&breaker_key(&slot))? else {
        return Ok(false);
    };
    state.open = None;
    state.failures.clear();
    state.ineffective.clear();
    state.reset_by = Some(by);
    state.reset_at_ms = Some(at_ms);
    kv.put_as(&breaker_key(&slot), &state)?;
    Ok(true)
}
