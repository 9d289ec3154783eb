//! `openfero validate PATH...`: check operarius files without running anything.

use std::io::Write;

use crate::config::ValidateArgs;
use crate::operarios::load_paths;

/// Print every problem (file, document index, name, message) and a summary; returns whether all
/// files were valid.
pub fn validate(args: &ValidateArgs, out: &mut impl Write) -> std::io::Result<bool> {
    let mut ok = true;
    for p in &args.paths {
        if !p.exists() {
            writeln!(out, "{}: no such file or folder", p.display())?;
            ok = false;
        }
    }
    let report = load_paths(&args.paths, &args.namespace);
    for problem in &report.problems {
        writeln!(out, "{problem}")?;
    }
    ok &= report.problems.is_empty();
    writeln!(
        out,
        "{} operarius(es) valid, {} problem(s)",
        report.operarios.len(),
        report.problems.len()
    )?;
    Ok(ok)
}
