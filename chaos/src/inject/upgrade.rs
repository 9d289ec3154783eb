//! Mixed-version rolling upgrade: every node rolled to the previous release and back, one at
//! a time, under load.

use super::Done;
use crate::campaign::Env;

pub(super) async fn inject(_env: &mut Env) -> anyhow::Result<Done> {
    anyhow::bail!("rolling-upgrade is not built yet")
}
