//! Retention: the replicated `Prune` — the oldest alerts beyond the limit, expired cooldowns;
//! open remediations outlive their pruned alert.

use openfero_raft::{KvError, KvTxn};

use super::super::command::Response;
use super::super::hourly;
use super::super::keys;
use super::super::record::AlertRecord;
use super::load_remediation;

pub(super) fn prune(
    kv: &mut KvTxn<'_>,
    keep_alerts: u64,
    max_remove: u64,
    now_ms: i64,
) -> Result<Response, KvError> {
    let live = kv.get_as::<u64>(keys::LIVE_ALERTS)?.unwrap_or(0);
    let excess = live.saturating_sub(keep_alerts).min(max_remove);
    let mut alerts = 0;
    let mut remediations = 0;
    if excess > 0 {
        for (key, value) in kv.scan_prefix(keys::ALERT, excess as usize)? {
            let rec: AlertRecord = openfero_raft::codec::decode(&value)?;
            for rid in &rec.remediations {
                if let Some(r) = load_remediation(kv, rid)? {
                    // Open remediations outlive their alert until they finish.
                    if r.state.is_terminal() {
                        hourly::remediation_removed(kv, &r)?;
                        kv.delete(&keys::with_seq(keys::REMEDIATION, r.seq));
                        kv.delete(&keys::with_str(keys::REMEDIATION_ID, rid.as_str()));
                        remediations += 1;
                    }
                }
            }
            hourly::alert_removed(kv, &rec)?;
            kv.delete(&keys::with_str(keys::EVENT, rec.event_id.as_str()));
            kv.delete(&key);
            alerts += 1;
        }
        kv.put_as(keys::LIVE_ALERTS, &(live - alerts))?;
    }
    hourly::drop_old(kv, now_ms, max_remove as usize)?;
    let mut cooldowns = 0;
    for (key, value) in kv.scan_prefix(keys::COOLDOWN, max_remove as usize)? {
        let until: i64 = openfero_raft::codec::decode(&value)?;
        if until <= now_ms {
            kv.delete(&key);
            cooldowns += 1;
        }
    }
    Ok(Response::Pruned {
        alerts,
        remediations,
        cooldowns,
    })
}
