//! Side effects, on the leader only: turn pending remediations into executions and record their
//! outcomes through Raft.

mod driver;
mod process;

pub use driver::{Backend, Executor, ExecutorConfig, KubeBackend};
pub use process::{run_process, ProcessEnd, ProcessResult, ProcessSpec, OUTPUT_TAIL_BYTES};
