//! `openfero validate PATH...`: check operarius files without running anything.

use std::io::Write;

use crate::config::ValidateArgs;
use crate::operarios::{load_paths, load_policy};

/// Print every skipped document and every problem (file, document index, name, message) and a
/// summary; returns whether all operarios were valid. Documents of other kinds (the RBAC of an
/// all-in-one bundle) are listed as skipped and do not fail validation.
pub fn validate(args: &ValidateArgs, out: &mut impl Write) -> std::io::Result<bool> {
    let mut ok = true;
    for p in &args.paths {
        if !p.exists() {
            writeln!(out, "{}: no such file or folder", p.display())?;
            ok = false;
        }
    }
    let mut report = load_paths(&args.paths, &args.namespace);
    if let Some(path) = &args.policy_file {
        match load_policy(path) {
            Ok(policy) => report.check_policy(&policy),
            Err(e) => {
                writeln!(out, "{e}")?;
                ok = false;
            }
        }
    }
    for skipped in &report.skipped {
        writeln!(out, "{skipped}")?;
    }
    for problem in &report.problems {
        writeln!(out, "{problem}")?;
    }
    ok &= report.problems.is_empty();
    writeln!(
        out,
        "{} operarius(es) valid, {} problem(s), {} other document(s) skipped",
        report.operarios.len(),
        report.problems.len(),
        report.skipped.len()
    )?;
    Ok(ok)
}
