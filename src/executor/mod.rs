//! Side effects, on the leader only: turn pending remediations into executions and record their
//! outcomes through Raft.

mod alertmanager;
mod driver;
mod followup;
mod process;

pub use alertmanager::{Alertmanagers, Listed};
pub use driver::{Backend, Executor, ExecutorConfig, KubeBackend};
pub use followup::FollowUps;
pub use process::{run_process, ProcessEnd, ProcessResult, ProcessSpec, OUTPUT_TAIL_BYTES};
