//! The replicated remediation state: commands, the deterministic state machine, records and the
//! read side used by the API and the executor.

mod command;
mod followup;
pub mod hourly;
mod job_name;
pub mod keys;
mod machine;
mod preview;
mod query;
mod record;

pub use command::{
    AlertEvent, Command, CommandV1, Ingest, IngestSummary, IngestedAlert, LeaderId, Notification,
    Outcome, RemediationRef, Response,
};
pub use followup::{FollowUpRecord, FollowUpStep, NotificationRecord, SilenceRef, Verification};
pub use job_name::job_name;
pub use machine::{
    Awaiting, BreakerRecord, OpenBreaker, PauseState, RemediationMachine, StoredGuards,
    StoredGuardsV1,
};
pub use preview::{preview, why_unclaimed, AlertPreview, CandidatePreview, Preview, Verdict};
pub use query::{AlertFilter, AlertPage, BudgetUse, History, WindowUse};
pub use record::{
    decided_by, AlertRecord, OperariusStats, RemediationRecord, RemediationState, OUTPUT_TAIL_BYTES,
};
