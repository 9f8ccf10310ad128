//! What can be wrong with a baseline document (errors refuse the load) or merely odd about it
//! (warnings, reported and loaded anyway). Both name the field by its path in the document,
//! e.g. `ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[0]`.

/// A baseline file or document that cannot be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// The document, or a pasted `aws_json`, is not valid JSON.
    #[error("{}not valid JSON: {message}", path_prefix(.path))]
    Json {
        /// Where the JSON text sits in the file (`aws_json` …); empty for the document itself.
        path: String,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// The baselines file is not valid TOML.
    #[error("not valid TOML: {message}")]
    Toml {
        /// The TOML parser's message.
        message: String,
    },
    /// A value of the wrong type (serde's message).
    #[error("{path}: {message}")]
    Type {
        /// Field path of the value.
        path: String,
        /// serde's message.
        message: String,
    },
    /// A value of the right type that AWS (or the proxy) rejects.
    #[error("{path}: {problem}")]
    Invalid {
        /// Field path of the value.
        path: String,
        /// Why it is refused.
        problem: Problem,
    },
    /// A refused document that also has unknown keys, which are likely the cause (a misspelt
    /// required key reads as a missing one): the error, then each unknown key.
    #[error("{error} — {}", join_warnings(.unknown))]
    WithUnknownKeys {
        /// What refused the document.
        error: Box<BaselineError>,
        /// The document's unknown keys, with suggestions.
        unknown: Vec<Warning>,
    },
    /// `aws_json_file` could not be read by the caller's reader.
    #[error("{path}: cannot read {file}: {message}")]
    File {
        /// Field path of the `aws_json_file` key.
        path: String,
        /// The file as the document names it.
        file: String,
        /// The reader's error message.
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
            BaselineError::WithUnknownKeys { error, unknown } => BaselineError::WithUnknownKeys {
                error: Box::new(error.within(prefix)),
                unknown: unknown.into_iter().map(|w| w.within(prefix)).collect(),
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
            BaselineError::WithUnknownKeys { error, .. } => error.path(),
        }
    }

    /// `self`, naming the unknown keys among `warnings` beside it when there are any.
    pub(crate) fn with_unknown_keys(self, warnings: &[Warning]) -> BaselineError {
        let unknown: Vec<Warning> = warnings
            .iter()
            .filter(|w| matches!(w.kind, WarningKind::UnknownField { .. }))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return self;
        }
        BaselineError::WithUnknownKeys {
            error: Box::new(self),
            unknown,
        }
    }
}

fn join_warnings(warnings: &[Warning]) -> String {
    let texts: Vec<String> = warnings.iter().map(Warning::to_string).collect();
    texts.join("; ")
}

/// Why a well-typed value is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A required field is missing.
    #[error("required")]
    Required,
    /// An install override list cannot be read or lists something that is not a KB.
    #[error("{message}")]
    OverrideList {
        /// What is wrong, with the file and line.
        message: String,
    },
    /// A maintenance window's schedule or time zone does not read.
    #[error("{message}")]
    Schedule {
        /// What is wrong.
        message: String,
    },
    /// A number outside its allowed range.
    #[error("{value} is outside {min}..={max}")]
    OutOfRange {
        /// The number given.
        value: i64,
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
    },
    /// A list longer than allowed.
    #[error("{count} entries, at most {max} allowed")]
    TooMany {
        /// Entries given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A list shorter than required.
    #[error("{count} entries, at least {min} required")]
    TooFew {
        /// Entries given.
        count: usize,
        /// The fewest allowed.
        min: usize,
    },
    /// A text of a length outside its limits.
    #[error("length {length} is outside {min}..={max} characters")]
    Length {
        /// Its length in characters.
        length: usize,
        /// The shortest allowed.
        min: usize,
        /// The longest allowed.
        max: usize,
    },
    /// A text that does not match the pattern AWS requires.
    #[error("{value:?} does not match {pattern}")]
    Pattern {
        /// The text given.
        value: String,
        /// The regular expression, as AWS writes it.
        pattern: &'static str,
    },
    /// Not a `YYYY-MM-DD` calendar date.
    #[error("{value:?} is not a YYYY-MM-DD calendar date")]
    Date {
        /// The text given.
        value: String,
    },
    /// A value AWS does not have in its enum (an operating system or a filter key).
    #[error("{value:?} is not one of {expected}")]
    UnknownValue {
        /// The value given.
        value: String,
        /// The allowed values, as the message lists them.
        expected: String,
    },
    /// A rule gives both `ApproveAfterDays` and `ApproveUntilDate`.
    #[error("give ApproveAfterDays or ApproveUntilDate, not both")]
    BothApprovals,
    /// A rule gives neither `ApproveAfterDays` nor `ApproveUntilDate`.
    #[error("ApproveAfterDays or ApproveUntilDate is required")]
    NoApproval,
    /// A filter key with no meaning on Windows (a Linux key).
    #[error("filter key {key} is not valid for WINDOWS (valid: PATCH_SET, PRODUCT, PRODUCT_FAMILY, CLASSIFICATION, MSRC_SEVERITY, PATCH_ID)")]
    NotWindowsKey {
        /// The key given.
        key: String,
    },
    /// An `OperatingSystem` other than WINDOWS.
    #[error("operating system {os} is not supported; the proxy serves WINDOWS baselines only")]
    NotWindows {
        /// The operating system given.
        os: String,
    },
    /// A JSON document, or an element of an array, that is not an object.
    #[error("expected a JSON object or array, found {found}")]
    Shape {
        /// What it is instead (`string`, `number` …).
        found: &'static str,
    },
    /// A `BaselineOverride` array without a WINDOWS element.
    #[error("no element has OperatingSystem WINDOWS")]
    NoWindowsElement,
    /// A `BaselineOverride` array with more than one WINDOWS element.
    #[error("elements {first} and {second} are both WINDOWS baselines")]
    SeveralWindowsElements {
        /// Index of the first.
        first: usize,
        /// Index of the second.
        second: usize,
    },
    /// A TOML baseline with native AWS keys beside `aws_json` or `aws_json_file`.
    #[error("give either native baseline keys ({key}) or aws_json/aws_json_file, not both")]
    NativeAndJson {
        /// The first native key found.
        key: String,
    },
    /// A TOML baseline with both `aws_json` and `aws_json_file`.
    #[error("give aws_json or aws_json_file, not both")]
    TwoJsonSources,
    /// `ProxyExtensions` both in the TOML table and inside its JSON document.
    #[error("ProxyExtensions given both in TOML and inside the JSON document")]
    ExtensionsTwice,
    /// Two baselines with the same id.
    #[error("baseline id {id:?} is used twice")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A baseline id that names a predefined AWS baseline.
    #[error("baseline id {id:?} is reserved for the predefined AWS baseline")]
    ReservedId {
        /// The id.
        id: String,
    },
    /// `default_baseline` or a patch group names a baseline that does not exist.
    #[error("no baseline has id {id:?}")]
    UnknownBaseline {
        /// The id named.
        id: String,
    },
    /// One patch group registered to two baselines.
    #[error(
        "patch group {group:?} is registered to both {first:?} and {second:?}; a group has one baseline"
    )]
    GroupTwice {
        /// The group's name.
        group: String,
        /// Id of the first baseline.
        first: String,
        /// Id of the second baseline.
        second: String,
    },
    /// Two baselines claim to be the default.
    #[error("default baseline given twice: {first:?} and {second:?}")]
    DefaultTwice {
        /// Id of the first.
        first: String,
        /// Id of the second.
        second: String,
    },
    /// A baseline names a maintenance window that is not defined.
    #[error("no maintenance window is named {name:?}")]
    UnknownWindow {
        /// The window's name.
        name: String,
    },
    /// Two maintenance windows with the same name.
    #[error("maintenance window {name:?} is defined twice")]
    DuplicateWindow {
        /// The window's name.
        name: String,
    },
    /// Deadline mode `NextMaintenanceWindow` without any `MaintenanceWindows`.
    #[error("Deadline Mode NextMaintenanceWindow needs at least one of MaintenanceWindows")]
    DeadlineWithoutWindow,
    /// A `schema_version` other than 1.
    #[error("schema_version {found} is not supported (expected 1)")]
    SchemaVersion {
        /// The version given.
        found: i64,
    },
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

/// What a [`Warning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    /// A key wucache does not know, in a place where AWS may add keys; ignored. With the
    /// known key it probably misspells, if one is close.
    #[error("unknown key{}", unknown_key_note(.suggestion))]
    UnknownField {
        /// The closest known key of the same object, if any is close.
        suggestion: Option<String>,
    },
    /// A filter value outside the Windows vocabulary of its key; it matches nothing.
    #[error("unknown {key} value {value:?}; values compare exactly, so it matches nothing")]
    UnknownValue {
        /// The filter key.
        key: String,
        /// The value given.
        value: String,
    },
    /// A WSUS product title where the AWS `PRODUCT` name is meant.
    #[error("{value:?} is a WSUS product title; the AWS PRODUCT name {aws:?} is what matches")]
    WsusProductTitle {
        /// The title given.
        value: String,
        /// The AWS name that matches that product.
        aws: String,
    },
    /// A filter group with 5 filters: CloudFormation allows it, the AWS API only 4.
    #[error("{count} filters: CloudFormation allows 5 but the AWS API only 4")]
    FiveFilters {
        /// Filters in the group.
        count: usize,
    },
    /// A filter key used twice in one group.
    #[error("filter key {key} appears more than once; every copy must match")]
    DuplicateFilterKey {
        /// The key.
        key: String,
    },
    /// A patch-list entry of bare digits, read as `KB<digits>`.
    #[error("{entry:?} is bare digits, read as KB{entry}")]
    BareKbDigits {
        /// The entry as written.
        entry: String,
    },
    /// A patch-list entry with `*`, which matches nothing on Windows.
    #[error("{entry:?} contains `*`; Windows patch lists take literal ids, so it matches nothing")]
    WildcardPatchId {
        /// The entry as written.
        entry: String,
    },
    /// A patch-list entry that is neither a KB id nor a bulletin id; compared literally.
    #[error("{entry:?} is neither a KB id (KB1234567) nor a bulletin id (MS17-010); compared literally")]
    UnrecognisedPatchId {
        /// The entry as written.
        entry: String,
    },
    /// A non-WINDOWS element of a `BaselineOverride` array, skipped.
    #[error("element {index} is {os}, skipped (only WINDOWS baselines load)")]
    SkippedElement {
        /// Its index in the array.
        index: usize,
        /// Its `OperatingSystem`.
        os: String,
    },
    /// What a guardrail found (the file alone, or the file against a synced catalog).
    #[error(transparent)]
    Guardrail(#[from] super::guardrails::Guardrail),
    /// A maintenance window names a patch group no baseline registers.
    #[error("patch group {group:?} is not registered to any baseline")]
    UnregisteredGroup {
        /// The group's name.
        group: String,
    },
}

fn unknown_key_note(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(key) => format!(" (did you mean {key}?)"),
        None => ", ignored".to_string(),
    }
}

/// A loaded value with what the loader noticed: warnings worth fixing, and AWS fields that
/// were accepted but ignored (read-only or Linux-only, §8.1), by path.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub(crate) value: T,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) ignored: Vec<String>,
}

impl<T> Loaded<T> {
    /// The loaded value, without the warnings and ignored fields.
    pub fn into_value(self) -> T {
        self.value
    }
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
