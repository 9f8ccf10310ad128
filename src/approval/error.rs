//! What can be wrong with a baseline document (errors refuse the load) or merely odd about it
//! (warnings, reported and loaded anyway). Both name the field by its path in the document,
//! e.g. `ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[0]`.

/// A baseline file or document that cannot be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    #[error("{}not valid JSON: {message}", path_prefix(.path))]
    Json { path: String, message: String },
    #[error("not valid TOML: {message}")]
    Toml { message: String },
    /// A value of the wrong type (serde's message).
    #[error("{path}: {message}")]
    Type { path: String, message: String },
    /// A value of the right type that AWS (or the proxy) rejects.
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: Problem },
    /// `aws_json_file` could not be read by the caller's reader.
    #[error("{path}: cannot read {file}: {message}")]
    File {
        path: String,
        file: String,
        message: String,
    },
}

impl BaselineError {
    pub(crate) fn invalid(path: impl Into<String>, problem: Problem) -> BaselineError {
        BaselineError::Invalid {
            path: path.into(),
            problem,
        }
    }

    /// The same error with `prefix` in front of its field path.
    pub(crate) fn within(self, prefix: &str) -> BaselineError {
        match self {
            BaselineError::Type { path, message } => BaselineError::Type {
                path: join(prefix, &path),
                message,
            },
            BaselineError::Invalid { path, problem } => BaselineError::Invalid {
                path: join(prefix, &path),
                problem,
            },
            BaselineError::File { path, file, message } => BaselineError::File {
                path: join(prefix, &path),
                file,
                message,
            },
            BaselineError::Json { path, message } => BaselineError::Json {
                path: join(prefix, &path),
                message,
            },
            other => other,
        }
    }

    /// The field path the error names, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            BaselineError::Type { path, .. }
            | BaselineError::Invalid { path, .. }
            | BaselineError::File { path, .. } => Some(path),
            BaselineError::Json { path, .. } => (!path.is_empty()).then_some(path.as_str()),
            BaselineError::Toml { .. } => None,
        }
    }
}

/// Why a well-typed value is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("required")]
    Required,
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: i64, min: i64, max: i64 },
    #[error("{count} entries, at most {max} allowed")]
    TooMany { count: usize, max: usize },
    #[error("{count} entries, at least {min} required")]
    TooFew { count: usize, min: usize },
    #[error("length {length} is outside {min}..={max} characters")]
    Length { length: usize, min: usize, max: usize },
    #[error("{value:?} does not match {pattern}")]
    Pattern { value: String, pattern: &'static str },
    #[error("{value:?} is not a YYYY-MM-DD calendar date")]
    Date { value: String },
    #[error("{value:?} is not one of {expected}")]
    UnknownValue { value: String, expected: String },
    #[error("give ApproveAfterDays or ApproveUntilDate, not both")]
    BothApprovals,
    #[error("ApproveAfterDays or ApproveUntilDate is required")]
    NoApproval,
    #[error("filter key {key} is not valid for WINDOWS (valid: PATCH_SET, PRODUCT, PRODUCT_FAMILY, CLASSIFICATION, MSRC_SEVERITY, PATCH_ID)")]
    NotWindowsKey { key: String },
    #[error("operating system {os} is not supported; the proxy serves WINDOWS baselines only")]
    NotWindows { os: String },
    #[error("expected a JSON object or array, found {found}")]
    Shape { found: &'static str },
    #[error("no element has OperatingSystem WINDOWS")]
    NoWindowsElement,
    #[error("elements {first} and {second} are both WINDOWS baselines")]
    SeveralWindowsElements { first: usize, second: usize },
    #[error("give either native baseline keys ({key}) or aws_json/aws_json_file, not both")]
    NativeAndJson { key: String },
    #[error("give aws_json or aws_json_file, not both")]
    TwoJsonSources,
    #[error("ProxyExtensions given both in TOML and inside the JSON document")]
    ExtensionsTwice,
    #[error("baseline id {id:?} is used twice")]
    DuplicateId { id: String },
    #[error("baseline id {id:?} is reserved for the predefined AWS baseline")]
    ReservedId { id: String },
    #[error("no baseline has id {id:?}")]
    UnknownBaseline { id: String },
    #[error(
        "patch group {group:?} is registered to both {first:?} and {second:?}; a group has one baseline"
    )]
    GroupTwice {
        group: String,
        first: String,
        second: String,
    },
    #[error("default baseline given twice: {first:?} and {second:?}")]
    DefaultTwice { first: String, second: String },
    #[error("no maintenance window is named {name:?}")]
    UnknownWindow { name: String },
    #[error("maintenance window {name:?} is defined twice")]
    DuplicateWindow { name: String },
    #[error("Deadline Mode NextMaintenanceWindow needs at least one of MaintenanceWindows")]
    DeadlineWithoutWindow,
    #[error("schema_version {found} is not supported (expected 1)")]
    SchemaVersion { found: i64 },
}

/// Something a loaded document does that is probably not what the admin meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub(crate) path: String,
    pub(crate) kind: WarningKind,
}

impl Warning {
    pub(crate) fn new(path: impl Into<String>, kind: WarningKind) -> Warning {
        Warning {
            path: path.into(),
            kind,
        }
    }

    pub(crate) fn within(self, prefix: &str) -> Warning {
        Warning {
            path: join(prefix, &self.path),
            kind: self.kind,
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    #[error("unknown field, ignored")]
    UnknownField,
    #[error("unknown {key} value {value:?}; values compare exactly, so it matches nothing")]
    UnknownValue { key: String, value: String },
    #[error("{value:?} is a WSUS product title; the AWS PRODUCT name {aws:?} is what matches")]
    WsusProductTitle { value: String, aws: String },
    #[error("{count} filters: CloudFormation allows 5 but the AWS API only 4")]
    FiveFilters { count: usize },
    #[error("filter key {key} appears more than once; every copy must match")]
    DuplicateFilterKey { key: String },
    #[error("{entry:?} is bare digits, read as KB{entry}")]
    BareKbDigits { entry: String },
    #[error("{entry:?} contains `*`; Windows patch lists take literal ids, so it matches nothing")]
    WildcardPatchId { entry: String },
    #[error("{entry:?} is neither a KB id (KB1234567) nor a bulletin id (MS17-010); compared literally")]
    UnrecognisedPatchId { entry: String },
    #[error("element {index} is {os}, skipped (only WINDOWS baselines load)")]
    SkippedElement { index: usize, os: String },
    #[error("patch group {group:?} is not registered to any baseline")]
    UnregisteredGroup { group: String },
}

/// A loaded value with what the loader noticed: warnings worth fixing, and AWS fields that
/// were accepted but ignored (read-only or Linux-only, §8.1), by path.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub(crate) value: T,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) ignored: Vec<String>,
}

/// `"path: "`, or nothing for the document itself.
fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// `prefix.path`, or `prefix[3]…` when the path starts with an index.
pub(crate) fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => prefix.to_string(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}
