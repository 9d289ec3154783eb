//! Skewed clocks: a node restarted with its wall clock minutes ahead or behind (Debian's
//! `faketime`, monotonic time left alone), then made the leader.

use super::Done;
use crate::campaign::Env;
use crate::rng::SeededRng;

pub(super) async fn inject(
    _env: &mut Env,
    _rng: &mut SeededRng,
    _leader: Option<&str>,
    _followers: &[String],
) -> anyhow::Result<Done> {
    anyhow::bail!("clock-skew is not built yet")
}
