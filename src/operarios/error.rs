//! Error types of the operarios module.

use thiserror::Error;

/// Why an Alertmanager-style matcher string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatcherError {
    /// The input (or the list inside braces) holds no matcher at all.
    #[error("empty matcher `{input}`")]
    Empty { input: String },
    /// The input is not of the form `name<op>value`.
    #[error("bad matcher format `{input}`")]
    BadFormat { input: String },
    /// The part before the operator is not a valid label name.
    #[error("invalid label name `{name}` in matcher `{input}`")]
    InvalidLabelName { input: String, name: String },
    /// A double quote inside the value is neither escaped nor the closing quote.
    #[error("matcher value contains unescaped double quote in `{input}`")]
    UnescapedQuote { input: String },
    /// The value of a `=~` or `!~` matcher is not a valid regular expression.
    #[error("invalid regex `{pattern}` in matcher `{input}`: {message}")]
    InvalidRegex {
        input: String,
        pattern: String,
        message: String,
    },
}

/// Why a job could not be rendered from an operarius for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    /// The template refers to a key (or field) the alert data does not have.
    /// OpenFero 0.18 executes its templates with `missingkey=error`.
    #[error("missing key `{field}` in template `{template}`")]
    MissingKey { field: String, template: String },
    /// The template text is not a valid Go template.
    #[error("cannot parse template `{template}`: {message}")]
    Parse { template: String, message: String },
    /// The template failed while executing for another reason than a missing key.
    #[error("cannot execute template `{template}`: {message}")]
    Execute { template: String, message: String },
    /// The stored job template JSON cannot be read back or written.
    #[error("invalid job template of `{key}`: {message}")]
    InvalidJobTemplate { key: String, message: String },
    /// The job template has no container to run.
    #[error("job template of `{key}` has no containers")]
    NoContainers { key: String },
    /// The operarius failed validation; it claims the alert but cannot run for it.
    #[error("operarius `{key}` is invalid: {problems}")]
    InvalidOperarius { key: String, problems: String },
}
