//! Operarius catalog: the OpenFero `openfero.io/v1alpha1` `Operarius` resource,
//! its validated plain (replicable) form, alert selection and job rendering.

mod broken;
mod controls;
mod crd;
mod def;
mod determinism;
mod env;
mod error;
mod followup;
mod guards;
mod load;
mod matcher;
mod model;
mod policy;
mod render;
mod selector;
mod template;

pub use broken::BrokenOperarius;
pub use controls::{Approval, Mode, DEFAULT_APPROVAL_TTL_MS};
pub use crd::crd_yaml;
pub use def::{OperariusDef, SelectorDef};
pub use env::{label_env_name, label_env_vars, ENV_PREFIX};
pub use error::{MatcherError, RenderError};
pub use followup::{
    FollowUpDef, NotifyDef, NotifyEvent, NotifySpec, SilenceSpec, VerifySpec,
    DEFAULT_SILENCE_GRACE_MS,
};
pub use guards::{
    format_duration_ms, parse_duration_ms, BreakerDef, BreakerSpec, BudgetSpec, ClusterGuards,
    ClusterGuardsV1, ConcurrencySpec, GuardsDef, GuardsDefV1, TargetSpec, WindowDef,
};
pub use load::{catalog_fingerprint, load_paths, load_text, LoadReport, Problem, Skipped};
pub use matcher::{parse_matchers, MatchOp, MatcherDef};
pub use model::{
    AlertSelector, Deduplication, Operarius, OperariusSpec, OperariusStatus, API_VERSION, KIND,
    STATUS_FIRING, STATUS_RESOLVED,
};
pub use policy::{load_policy, PolicyDef, PolicySpec, DEFAULT_ACTIVE_DEADLINE_SECS};
pub use render::{render, RenderedJob};
pub use selector::{candidates, claim, claimants, closest_miss, select, AlertContext, Claimant};
pub use template::{check_template, render_template, template_data};
