//! Loading operarius manifests from files and directories.
//!
//! A path may be a file (read whatever its extension) or a directory, walked
//! recursively; in directories only `*.yaml`/`*.yml` files are read, entries
//! whose name starts with `.` are skipped (this also skips the `..data` and
//! `..<timestamp>` links of a mounted ConfigMap, which would otherwise yield
//! every file three times), and files are read in sorted path order.
//!
//! Each file is split into YAML documents at `---` lines (a `---` at column 0
//! is always a document marker in YAML) and every document is parsed on its
//! own, so a syntax error in one document never hides the others. Document
//! indexes are 0-based; text before the first `---` counts as a document only
//! when it holds more than blank lines and comments. Empty documents are
//! skipped, documents of another kind (the ServiceAccounts, Roles and
//! RoleBindings of an all-in-one bundle that is also `kubectl apply`d) are
//! skipped and listed in [`LoadReport::skipped`], and a repeated
//! `namespace/name` is a problem (the first definition, in path order, wins).
//! An invalid Operarius is a problem and, when its selector can be read, a
//! [`BrokenOperarius`] that keeps claiming its alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::broken::BrokenOperarius;
use super::def::OperariusDef;
use super::guards::GuardsDef;
use super::model::{Operarius, API_VERSION, KIND};
use super::policy::PolicyDef;

/// Something wrong with one document (or a whole file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 0-based document index in the file.
    pub document: usize,
    /// `metadata.name`, when it could be read.
    pub name: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    /// `file#doc name: message` (the name is left out when unknown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file.display(), self.document)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A document that is not an Operarius, skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub file: PathBuf,
    pub document: usize,
    /// `apiVersion` `kind` `name`, as far as they could be read.
    pub object: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{} {}: not an Operarius, skipped",
            self.file.display(),
            self.document,
            self.object
        )
    }
}

/// The outcome of [`load_paths`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Valid operarii, sorted by `namespace/name`.
    pub operarios: Vec<OperariusDef>,
    /// Invalid operarii that still claim their alerts, sorted by `namespace/name`.
    pub broken: Vec<BrokenOperarius>,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Skipped>,
    /// Guard rails of the valid operarii that set any, by `namespace/name`.
    pub guards: BTreeMap<String, GuardsDef>,
    /// Follow-ups (silence, verify, notify) of the valid operarii that set any.
    pub followups: BTreeMap<String, super::FollowUpDef>,
    /// Where each operarius (valid or broken) was read: file and document.
    pub origins: BTreeMap<String, (PathBuf, usize)>,
}

impl LoadReport {
    /// Report every rule of `policy` that an operarius' Job template breaks, as a problem of
    /// its document. The operarius stays in the catalog: apply refuses its remediations, each
    /// with the rule (the policy may change without the files changing).
    pub fn check_policy(&mut self, policy: &PolicyDef) {
        for def in &self.operarios {
            let (file, document) = self.origins.get(&def.key()).cloned().unwrap_or_default();
            for message in policy.operarius_problems(def) {
                self.problems.push(Problem {
                    file: file.clone(),
                    document,
                    name: Some(def.name.clone()),
                    message,
                });
            }
        }
    }

    /// SHA-256 (hex) of the JSON of the definitions sorted by key: equal
    /// catalogs give equal fingerprints whatever the file layout or order.
    pub fn fingerprint(&self) -> String {
        catalog_fingerprint(&self.operarios, &self.broken)
    }
}

/// The fingerprint of a catalog: valid definitions sorted by key, then broken ones. A catalog
/// without broken operarios hashes as it did before they existed.
pub fn catalog_fingerprint(defs: &[OperariusDef], broken: &[BrokenOperarius]) -> String {
    fn add(hasher: &mut Sha256, value: &impl Serialize) {
        // Serialising plain structs of strings and integers cannot fail; an error would only
        // drop that definition from the hash.
        if let Ok(json) = serde_json::to_vec(value) {
            hasher.update((json.len() as u64).to_be_bytes());
            hasher.update(&json);
        }
    }
    let mut defs: Vec<&OperariusDef> = defs.iter().collect();
    defs.sort_by_key(|d| d.key());
    let mut hasher = Sha256::new();
    for def in defs {
        add(&mut hasher, def);
    }
    let mut broken: Vec<&BrokenOperarius> = broken.iter().collect();
    broken.sort_by_key(|b| b.key());
    if !broken.is_empty() {
        hasher.update(b"broken");
        for b in broken {
            add(&mut hasher, b);
        }
    }
    hex::encode(hasher.finalize())
}

/// Loads every operarius found under `paths` (see module docs).
pub fn load_paths(paths: &[PathBuf], default_namespace: &str) -> LoadReport {
    let mut report = LoadReport::default();
    let mut files = Vec::new();
    let mut seen_files = BTreeSet::new();
    for path in paths {
        collect(
            path,
            true,
            &mut files,
            &mut seen_files,
            &mut BTreeSet::new(),
            &mut report,
        );
    }

    let mut origin: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    for file in files {
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) => {
                report
                    .problems
                    .push(problem(&file, 0, None, format!("cannot read file: {err}")));
                continue;
            }
        };
        load_file_text(&file, &text, default_namespace, &mut origin, &mut report);
    }
    report.operarios.sort_by_key(|d| d.key());
    report.broken.sort_by_key(|b| b.key());
    report
}

/// Loads the text of one file as [`load_paths`] loads each file it reads; `file` only names it
/// in problems.
pub fn load_text(file: &Path, text: &str, default_namespace: &str) -> LoadReport {
    let mut report = LoadReport::default();
    load_file_text(
        file,
        text,
        default_namespace,
        &mut BTreeMap::new(),
        &mut report,
    );
    report.operarios.sort_by_key(|d| d.key());
    report.broken.sort_by_key(|b| b.key());
    report
}

fn load_file_text(
    file: &Path,
    text: &str,
    default_namespace: &str,
    origin: &mut BTreeMap<String, (PathBuf, usize)>,
    report: &mut LoadReport,
) {
    for (document, body) in split_documents(text) {
        load_document(file, document, body, default_namespace, origin, report);
    }
}

fn problem(file: &Path, document: usize, name: Option<String>, message: String) -> Problem {
    Problem {
        file: file.to_path_buf(),
        document,
        name,
        message,
    }
}

fn collect(
    path: &Path,
    explicit: bool,
    files: &mut Vec<PathBuf>,
    seen_files: &mut BTreeSet<PathBuf>,
    seen_dirs: &mut BTreeSet<PathBuf>,
    report: &mut LoadReport,
) {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) => {
            report
                .problems
                .push(problem(path, 0, None, format!("cannot read path: {err}")));
            return;
        }
    };
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if metadata.is_dir() {
        if !seen_dirs.insert(canonical) {
            return; // symlink loop
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(err) => {
                report.problems.push(problem(
                    path,
                    0,
                    None,
                    format!("cannot read directory: {err}"),
                ));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        children.sort();
        for child in children {
            collect(&child, false, files, seen_files, seen_dirs, report);
        }
    } else if (explicit || is_yaml(path)) && seen_files.insert(canonical) {
        files.push(path.to_path_buf());
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Splits a YAML stream into `(index, text)` documents at column-0 `---`
/// markers (text after the marker on the same line belongs to the new
/// document); `...` end markers are dropped.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs: Vec<String> = vec![String::new()];
    for line in text.lines() {
        let is_marker = line == "---"
            || line
                .strip_prefix("---")
                .is_some_and(|r| r.starts_with([' ', '\t']));
        if is_marker {
            let mut doc = line[3..].to_owned();
            doc.push('\n');
            docs.push(doc);
        } else if line == "..."
            || line
                .strip_prefix("...")
                .is_some_and(|r| r.trim().is_empty())
        {
            continue;
        } else if let Some(current) = docs.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    let first_is_empty = docs.first().is_some_and(|d| is_blank(d));
    let docs_len = docs.len();
    docs.into_iter()
        .skip(usize::from(first_is_empty && docs_len > 1))
        .enumerate()
        .collect()
}

fn is_blank(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

fn load_document(
    file: &Path,
    document: usize,
    body: String,
    default_namespace: &str,
    origin: &mut BTreeMap<String, (PathBuf, usize)>,
    report: &mut LoadReport,
) {
    let mut value: serde_yaml::Value = match serde_yaml::from_str(&body) {
        Ok(value) => value,
        Err(err) => {
            report.problems.push(problem(
                file,
                document,
                None,
                format!("invalid yaml: {err}"),
            ));
            return;
        }
    };
    if value.is_null() {
        return;
    }
    if let Err(err) = value.apply_merge() {
        report.problems.push(problem(
            file,
            document,
            None,
            format!("invalid yaml merge: {err}"),
        ));
        return;
    }
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    let field = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version.is_empty() || kind.is_empty() {
        report.problems.push(problem(
            file,
            document,
            name,
            "not a Kubernetes object: `apiVersion` and `kind` are required".to_owned(),
        ));
        return;
    }
    if kind != KIND {
        // Another kind of object in a bundle meant for `kubectl apply`: not ours to judge.
        report.skipped.push(Skipped {
            file: file.to_path_buf(),
            document,
            object: format!("`{api_version}` `{kind}` `{}`", name.unwrap_or_default()),
        });
        return;
    }
    if api_version != API_VERSION {
        report.problems.push(problem(
            file,
            document,
            name,
            format!(
                "unsupported object `{api_version}` `{kind}`, expected `{API_VERSION}` `{KIND}`"
            ),
        ));
        return;
    }
    let json = serde_json::to_value(&value).ok();
    let checked = serde_yaml::from_value::<Operarius>(value)
        .map_err(|err| vec![format!("invalid operarius: {err}")])
        .and_then(|operarius| {
            let def = operarius.to_def(default_namespace)?;
            // to_def validated the guard rails and follow-ups too.
            Ok((
                def,
                (
                    operarius.guards().unwrap_or_default(),
                    operarius.follow_up().ok().flatten(),
                ),
            ))
        });
    let (key, def) = match checked {
        Ok((def, guards)) => (def.key(), Ok((def, guards))),
        Err(messages) => {
            report.problems.extend(
                messages
                    .iter()
                    .map(|message| problem(file, document, name.clone(), message.clone())),
            );
            let claim = json
                .as_ref()
                .and_then(|v| BrokenOperarius::claim_of(v, default_namespace, messages));
            match claim {
                Some(b) => (b.key(), Err(b)),
                None => return,
            }
        }
    };
    if let Some((first_file, first_doc)) = origin.get(&key) {
        report.problems.push(problem(
            file,
            document,
            name,
            format!(
                "duplicate operarius `{key}`, already defined in `{}#{first_doc}`",
                first_file.display()
            ),
        ));
        return;
    }
    origin.insert(key.clone(), (file.to_path_buf(), document));
    report.origins.insert(key, (file.to_path_buf(), document));
    match def {
        Ok((def, (guards, followup))) => {
            if guards != GuardsDef::default() {
                report.guards.insert(def.key(), guards);
            }
            if let Some(f) = followup {
                report.followups.insert(def.key(), f);
            }
            report.operarios.push(def);
        }
        Err(broken) => report.broken.push(broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operarius(name: &str, alertname: &str) -> String {
        format!(
            "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata:\n  name: {name}\nspec:\n  alertSelector:\n    alertname: {alertname}\n    status: firing\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: c\n              image: busybox\n              args: [\"{{{{ .Labels.pod }}}}\"]\n"
        )
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn loads_multi_document_files_and_skips_empty_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "# catalog\n---\n{}---\n\n---\n# only a comment\n---\n{}...\n",
            operarius("one", "A"),
            operarius("two", "B")
        );
        write(dir.path(), "multi.yaml", &text);
        let report = load_paths(&[dir.path().to_path_buf()], "openfero");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let keys: Vec<String> = report.operarios.iter().map(|d| d.key()).collect();
        assert_eq!(keys, vec!["openfero/one", "openfero/two"]);
    }

    #[test]
    fn bad_documents_do_not_hide_good_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "{}---\nkey: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\n---\n{}---\n{}",
            operarius("first", "A"),
            operarius("Invalid_Name", "B"),
            operarius("last", "C")
        );
        let file = write(dir.path(), "mixed.yml", &text);
        let report = load_paths(std::slice::from_ref(&file), "openfero");
        let names: Vec<&str> = report.operarios.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["first", "last"]);
        let docs: Vec<usize> = report.problems.iter().map(|p| p.document).collect();
        assert_eq!(docs, vec![1, 3], "{:?}", report.problems);
        assert!(report.problems[0].message.starts_with("invalid yaml"));
        assert!(report.problems[1].message.contains("Invalid_Name"));
        assert_eq!(
            report.skipped.len(),
            1,
            "the ConfigMap is skipped, not a problem"
        );
        assert_eq!(
            report.skipped[0].to_string(),
            format!(
                "{}#2 `v1` `ConfigMap` `cm`: not an Operarius, skipped",
                file.display()
            )
        );
        let broken: Vec<&str> = report.broken.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            broken,
            vec!["Invalid_Name"],
            "an invalid operarius keeps its claim"
        );
    }

    #[test]
    fn a_bundle_with_rbac_loads_its_operarios_and_skips_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rbac = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: restarter}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: restarter}\nrules: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: restarter}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: restarter}\nsubjects: []\n";
        let text = format!(
            "{rbac}---\n{}---\n{}",
            operarius("one", "A"),
            operarius("two", "B")
        );
        write(dir.path(), "bundle.yaml", &text);
        let report = load_paths(&[dir.path().to_path_buf()], "openfero");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.operarios.len(), 2);
        assert_eq!(report.skipped.len(), 3);
        let missing_kind = format!("{}---\nfoo: bar\n", operarius("x", "A"));
        write(dir.path(), "bundle.yaml", &missing_kind);
        let report = load_paths(&[dir.path().to_path_buf()], "openfero");
        assert_eq!(
            report.problems.len(),
            1,
            "a document that is no object at all is a problem"
        );
    }

    #[test]
    fn duplicates_across_files_are_problems_and_first_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "a.yaml", &operarius("same", "First"));
        write(dir.path(), "sub/b.yaml", &operarius("same", "Second"));
        let report = load_paths(&[dir.path().to_path_buf()], "openfero");
        assert_eq!(report.operarios.len(), 1);
        assert_eq!(report.operarios[0].selector.alertname, "First");
        assert_eq!(report.problems.len(), 1);
        let message = &report.problems[0].message;
        assert!(
            message.starts_with("duplicate operarius `openfero/same`"),
            "{message}"
        );
        assert!(report.problems[0].file.ends_with("sub/b.yaml"));
    }

    #[test]
    fn non_yaml_and_hidden_entries_are_ignored_in_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "ok.YML", &operarius("ok", "A"));
        write(dir.path(), "notes.txt", "not: [yaml");
        write(dir.path(), "README.md", "# readme");
        write(dir.path(), "..data/ok.yaml", &operarius("ok", "A"));
        write(dir.path(), ".hidden.yaml", "not: [yaml");
        let report = load_paths(&[dir.path().to_path_buf()], "openfero");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.operarios.len(), 1);
    }

    #[test]
    fn same_file_given_twice_is_loaded_once_and_missing_path_is_a_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "x.yaml", &operarius("x", "A"));
        let missing = dir.path().join("nope");
        let report = load_paths(&[dir.path().to_path_buf(), file, missing.clone()], "of");
        assert_eq!(report.operarios.len(), 1);
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].file, missing);
        assert!(report.problems[0]
            .to_string()
            .contains("#0: cannot read path"));
    }

    #[test]
    fn fingerprint_is_stable_across_layout_and_changes_with_content() {
        let one = tempfile::tempdir().expect("tempdir");
        write(one.path(), "a.yaml", &operarius("a", "A"));
        write(one.path(), "b.yaml", &operarius("b", "B"));
        let two = tempfile::tempdir().expect("tempdir");
        write(
            two.path(),
            "all.yaml",
            &format!("{}---\n{}", operarius("b", "B"), operarius("a", "A")),
        );
        let first = load_paths(&[one.path().to_path_buf()], "of");
        let second = load_paths(&[two.path().to_path_buf()], "of");
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_eq!(first.fingerprint().len(), 64);
        write(
            two.path(),
            "all.yaml",
            &format!("{}---\n{}", operarius("b", "B"), operarius("a", "Z")),
        );
        let changed = load_paths(&[two.path().to_path_buf()], "of");
        assert_ne!(first.fingerprint(), changed.fingerprint());
    }

    #[test]
    fn load_text_reads_one_file_as_load_paths_does() {
        let text = format!(
            "{}---\n{}---\nkey: [unclosed\n",
            operarius("one", "A"),
            operarius("one", "B")
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "ops.yaml", &text);
        let from_text = load_text(&file, &text, "of");
        assert_eq!(from_text, load_paths(std::slice::from_ref(&file), "of"));
        assert_eq!(from_text.operarios.len(), 1);
        let docs: Vec<usize> = from_text.problems.iter().map(|p| p.document).collect();
        assert_eq!(docs, vec![1, 2], "{:?}", from_text.problems);
    }

    #[test]
    fn document_splitting_counts_from_zero() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- {c: 3}\n");
        let indexes: Vec<usize> = docs.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![0, 1, 2]);
        assert_eq!(docs[2].1.trim(), "{c: 3}");
        let leading = split_documents("# header\n---\na: 1\n");
        assert_eq!(leading.len(), 1);
        assert_eq!(leading[0].0, 0);
    }
}
