//! Disk faults: a node's data dir fills up (its own size-limited tmpfs, as root), or its log
//! store's sync fails with EIO (a hook of openfero's `chaos-faults` build).

use super::Done;
use crate::campaign::Env;
use crate::faults::FaultKind;
use crate::rng::SeededRng;

pub(super) async fn inject(
    _env: &mut Env,
    kind: FaultKind,
    _rng: &mut SeededRng,
    _leader: Option<&str>,
    _followers: &[String],
) -> anyhow::Result<Done> {
    anyhow::bail!("{kind} is not built yet")
}
