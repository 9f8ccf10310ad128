//! MS-WUSP metadata fragments (docs/protocol.md §5.1): what a client gets instead of the full
//! `upd:Update` document, derived from it as a real WSUS derives them — Core (SyncUpdates
//! `UpdateInfo/Xml`), Extended and LocalizedProperties (GetExtendedUpdateInfo) and Eula.
//! Fragments are not well-formed documents: several top-level elements, no namespaces.
//!
//! Pure: the document's text in, fragment text out. Uses quick-xml and the escaping of
//! `protocol::xml`.
//!
//! The rules, each pinned by a test against real WSUS output (`tests/fixtures/fragments/`)
//! unless marked *inferred* (no real output shows the case):
//! - Names: namespace declarations and prefixes are dropped; elements of the Base and MSI
//!   applicability-rule namespaces and of the WindowsDriver handler become `b.X`, `m.X`, `d.X`;
//!   a prefixed attribute keeps only its local name (`xsi:type` → `type`, value untouched).
//! - Serialisation: attributes in source order; an element without content is written
//!   `<X />`; GUIDs keep the case the document has. *Inferred*: text and values are
//!   re-escaped as .NET writes them; whitespace-only text, comments and processing
//!   instructions are dropped.
//! - Core: `UpdateIdentity`, `Properties` reduced to `UpdateType ExplicitlyDeployable
//!   AutoSelectOnWebSites OSUpgrade EulaID` (in that order, `false` booleans left out, no
//!   children), `Relationships`, `ApplicabilityRules`.
//! - Extended: `Properties` renamed `ExtendedProperties` minus the publishing attributes and
//!   `PerUser="false"`, then `Files`, then `HandlerSpecificData`.
//!
//! `rules` derives the four fragments; `tree` is their private element tree, parsed from
//! the stored document and serialised as WSUS writes it.

mod rules;
mod tree;

pub use rules::{core, eulas, extended, localized, Document};
use tree::MAX_DEPTH;

/// Why no fragment could be derived. All of these mean the upstream sent a bad document.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FragmentError {
    /// quick-xml refused the document.
    #[error("malformed update XML at byte {position}: {reason}")]
    Malformed {
        /// Byte offset in the document.
        position: u64,
        /// quick-xml's message.
        reason: String,
    },
    /// The document has a DOCTYPE (refused: no entity expansion).
    #[error("update XML with a DOCTYPE is refused")]
    Doctype,
    /// An entity other than the five predefined ones; its name.
    #[error("update XML uses the undeclared entity `&{0};`")]
    UndeclaredEntity(String),
    /// Nesting passes the depth limit.
    #[error("update XML nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The root element is not `upd:Update`; its qualified name.
    #[error("root element is `{0}`, not upd:Update")]
    NotAnUpdate(String),
    /// A required element is absent; its name.
    #[error("update XML has no `{0}` element")]
    Missing(&'static str),
}
