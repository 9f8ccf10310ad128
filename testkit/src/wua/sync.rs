//! The SyncUpdates answer (WSDL `SyncInfo`): new and changed `UpdateInfo`s with their
//! `Deployment`, the out-of-scope revision ids, `Truncated`, the new cookie and the driver hint.

use super::answers::{read_cookie, Cookie};
use super::core::{read_core, Core};
use super::schema::{
    array, check_sequence, expect_name, int_array, join, optional_bool, required, required_bool,
    required_number, required_text, text_of, Occurs,
};
use super::WuaError;
use crate::xml::Element;

/// `SyncInfo`, in WSDL order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncInfo {
    /// `NewUpdates`: this page's revisions.
    pub new_updates: Vec<UpdateInfo>,
    /// `OutOfScopeRevisionIDs`: cached revisions to forget.
    pub out_of_scope: Vec<i32>,
    /// `ChangedUpdates`: cached revisions whose deployment changed.
    pub changed_updates: Vec<UpdateInfo>,
    /// `Truncated`: more NewUpdates remain.
    pub truncated: bool,
    /// `NewCookie`, when sent.
    pub new_cookie: Option<Cookie>,
    /// `DeployedOutOfScopeRevisionIds`, when sent.
    pub deployed_out_of_scope: Option<Vec<i32>>,
    /// `DriverSyncNotNeeded` (an `xs:string` holding a boolean), when sent.
    pub driver_sync_not_needed: Option<bool>,
}

/// One `UpdateInfo`: a revision id, its deployment, whether it is a leaf, its Core fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInfo {
    /// `ID`: the revision id.
    pub id: i32,
    pub(crate) deployment: Option<Deployment>,
    /// `IsLeaf`: no other revision names this one as a prerequisite.
    pub is_leaf: bool,
    /// The `Xml` text (the Core fragment, unescaped), when sent.
    pub xml: Option<String>,
}

impl UpdateInfo {
    /// The deployment's deadline, if there is a deployment with one.
    pub fn deadline(&self) -> Option<&str> {
        self.deployment.as_ref().and_then(|d| d.deadline.as_deref())
    }

    /// The deployment's action, if there is a deployment.
    pub fn action(&self) -> Option<Action> {
        self.deployment.as_ref().map(|d| d.action)
    }

    /// Reads the Core fragment in `Xml`.
    pub fn core(&self) -> Result<Core, WuaError> {
        let xml = self
            .xml
            .as_deref()
            .ok_or_else(|| WuaError::Missing("UpdateInfo/Xml".into()))?;
        read_core(xml)
    }
}

/// `Deployment`, in WSDL order (`HardwareIds` and `ClientBehaviors` are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub(crate) id: i32,
    /// `Action`: what the client is to do with the revision.
    pub action: Action,
    /// `Deadline`, when sent.
    pub deadline: Option<String>,
    pub(crate) is_assigned: bool,
    pub(crate) last_change_time: String,
    pub(crate) download_priority: Option<String>,
    pub(crate) auto_select: Option<String>,
    pub(crate) auto_download: Option<String>,
    pub(crate) supersedence_behavior: Option<String>,
    pub(crate) flag_bitmask: Option<String>,
}

/// The WSDL's `DeploymentAction` enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Offered without automatic installation.
    OptionalInstall,
    /// Approved: offered for install.
    Install,
    /// Offered for removal.
    Uninstall,
    /// Known but not approved: detect and report only.
    PreDeploymentCheck,
    /// Blocked: never offered.
    Block,
    /// Categories, detectoids and other prerequisites: evaluated, never installed.
    Evaluate,
    /// A member of a deployed bundle: installed through its bundle.
    Bundle,
}

impl Action {
    /// The enumeration value as written on the wire.
    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "OptionalInstall" => Action::OptionalInstall,
            "Install" => Action::Install,
            "Uninstall" => Action::Uninstall,
            "PreDeploymentCheck" => Action::PreDeploymentCheck,
            "Block" => Action::Block,
            "Evaluate" => Action::Evaluate,
            "Bundle" => Action::Bundle,
            _ => return None,
        })
    }
}

const SYNC_INFO: [(&str, Occurs); 7] = [
    ("NewUpdates", Occurs::Optional),
    ("OutOfScopeRevisionIDs", Occurs::Optional),
    ("ChangedUpdates", Occurs::Optional),
    ("Truncated", Occurs::One),
    ("NewCookie", Occurs::Optional),
    ("DeployedOutOfScopeRevisionIds", Occurs::Optional),
    ("DriverSyncNotNeeded", Occurs::Optional),
];

const UPDATE_INFO: [(&str, Occurs); 4] = [
    ("ID", Occurs::One),
    ("Deployment", Occurs::Optional),
    ("IsLeaf", Occurs::One),
    ("Xml", Occurs::Optional),
];

/// The WSDL's `Deployment` sequence (its `ClientBehaviors` is misspelt `" ClientBehaviors"` there).
const DEPLOYMENT: [(&str, Occurs); 12] = [
    ("ID", Occurs::One),
    ("Action", Occurs::One),
    ("Deadline", Occurs::Optional),
    ("IsAssigned", Occurs::One),
    ("LastChangeTime", Occurs::One),
    ("DownloadPriority", Occurs::Optional),
    ("HardwareIds", Occurs::Optional),
    ("AutoSelect", Occurs::Optional),
    ("AutoDownload", Occurs::Optional),
    ("SupersedenceBehavior", Occurs::Optional),
    ("FlagBitmask", Occurs::Optional),
    ("ClientBehaviors", Occurs::Optional),
];

/// Reads `SyncUpdatesResponse/SyncUpdatesResult`.
pub fn read_sync_updates(response: &Element) -> Result<SyncInfo, WuaError> {
    expect_name(response, "SyncUpdatesResponse")?;
    check_sequence(
        response,
        "SyncUpdatesResponse",
        &[("SyncUpdatesResult", Occurs::One)],
    )?;
    read_sync_info(required(response, "SyncUpdatesResult", "")?, "SyncUpdatesResult")
}

/// Reads a `SyncInfo` element.
pub fn read_sync_info(result: &Element, path: &str) -> Result<SyncInfo, WuaError> {
    check_sequence(result, path, &SYNC_INFO)?;
    Ok(SyncInfo {
        new_updates: update_infos(result, "NewUpdates", path)?,
        out_of_scope: int_array(result, "OutOfScopeRevisionIDs", path)?,
        changed_updates: update_infos(result, "ChangedUpdates", path)?,
        truncated: required_bool(result, "Truncated", path)?,
        new_cookie: result
            .child("NewCookie")
            .map(|c| read_cookie(c, &join(path, "NewCookie")))
            .transpose()?,
        deployed_out_of_scope: result
            .child("DeployedOutOfScopeRevisionIds")
            .map(|_| int_array(result, "DeployedOutOfScopeRevisionIds", path))
            .transpose()?,
        driver_sync_not_needed: optional_bool(result, "DriverSyncNotNeeded", path)?,
    })
}

fn update_infos(result: &Element, name: &str, path: &str) -> Result<Vec<UpdateInfo>, WuaError> {
    let items_path = join(path, name);
    array(result, name, "UpdateInfo", path)?
        .into_iter()
        .enumerate()
        .map(|(i, item)| read_update_info(item, &format!("{items_path}[{i}]")))
        .collect()
}

/// Reads one `UpdateInfo`.
pub fn read_update_info(item: &Element, path: &str) -> Result<UpdateInfo, WuaError> {
    check_sequence(item, path, &UPDATE_INFO)?;
    Ok(UpdateInfo {
        id: required_number(item, "ID", path)?,
        deployment: item
            .child("Deployment")
            .map(|d| read_deployment(d, &join(path, "Deployment")))
            .transpose()?,
        is_leaf: required_bool(item, "IsLeaf", path)?,
        xml: item.child("Xml").map(|x| x.text.clone()),
    })
}

/// Reads one `Deployment`.
pub fn read_deployment(deployment: &Element, path: &str) -> Result<Deployment, WuaError> {
    check_sequence(deployment, path, &DEPLOYMENT)?;
    let action = required_text(deployment, "Action", path)?;
    Ok(Deployment {
        id: required_number(deployment, "ID", path)?,
        action: Action::parse(&action)
            .ok_or_else(|| super::schema::invalid(&join(path, "Action"), &action))?,
        deadline: text_of(deployment, "Deadline"),
        is_assigned: required_bool(deployment, "IsAssigned", path)?,
        last_change_time: required_text(deployment, "LastChangeTime", path)?,
        download_priority: text_of(deployment, "DownloadPriority"),
        auto_select: text_of(deployment, "AutoSelect"),
        auto_download: text_of(deployment, "AutoDownload"),
        supersedence_behavior: text_of(deployment, "SupersedenceBehavior"),
        flag_bitmask: text_of(deployment, "FlagBitmask"),
    })
}
