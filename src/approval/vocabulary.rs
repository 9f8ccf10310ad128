//! The names Patch Manager uses for Windows patch properties and how WSUS metadata maps to them
//! (docs/baselines.md §2): classification GUIDs, the OS product alias table, and the value lists a
//! filter is checked against at load time.

use uuid::Uuid;

/// AWS `CLASSIFICATION` value, WSUS classification title, classification GUID (§2.3).
pub const CLASSIFICATIONS: &[(&str, &str, Uuid)] = &[
    (
        "CriticalUpdates",
        "Critical Updates",
        Uuid::from_u128(0xe6cf1350_c01b_414d_a61f_263d14d133b4),
    ),
    (
        "DefinitionUpdates",
        "Definition Updates",
        Uuid::from_u128(0xe0789628_ce08_4437_be74_2495b842f43b),
    ),
    (
        "Drivers",
        "Drivers",
        Uuid::from_u128(0xebfc1fc5_71a4_4f7b_9aca_3b9a503104a0),
    ),
    (
        "FeaturePacks",
        "Feature Packs",
        Uuid::from_u128(0xb54e7d24_7add_428f_8b75_90a396fa584f),
    ),
    (
        "SecurityUpdates",
        "Security Updates",
        Uuid::from_u128(0x0fa1201d_4330_4fa8_8ae9_b877473b6441),
    ),
    (
        "ServicePacks",
        "Service Packs",
        Uuid::from_u128(0x68c5b0a3_d1a6_4553_ae49_01d3a7827828),
    ),
    (
        "Tools",
        "Tools",
        Uuid::from_u128(0xb4832bd8_e735_4761_8daf_37f882276dab),
    ),
    (
        "UpdateRollups",
        "Update Rollups",
        Uuid::from_u128(0x28bc880e_0592_4cbf_8f95_c79b17911d5f),
    ),
    (
        "Updates",
        "Updates",
        Uuid::from_u128(0xcd5ffd1e_e932_4e3a_bf74_18bf0b1bbd83),
    ),
    (
        "Upgrades",
        "Upgrades",
        Uuid::from_u128(0x3689bdc8_b205_4af4_8d4a_a63924c5e9d5),
    ),
];

/// WSUS OS product title, its GUID where known, AWS `PRODUCT` name (§2.3).
pub const PRODUCT_ALIASES: &[(&str, Option<Uuid>, &str)] = &[
    (
        "Windows 7",
        Some(Uuid::from_u128(0xbfe5b177_a086_47a0_b102_097e4fa1f807)),
        "Windows7",
    ),
    (
        "Windows 8",
        Some(Uuid::from_u128(0x2ee2ad83_828c_4405_9479_544d767993fc)),
        "Windows8",
    ),
    (
        "Windows 8.1",
        Some(Uuid::from_u128(0x6407468e_edc7_4ecd_8c32_521f64cee65e)),
        "Windows8.1",
    ),
    (
        "Windows 8 Embedded",
        Some(Uuid::from_u128(0x589db546_7849_47f5_bbc0_1f66cf12f5c2)),
        "Windows8Embedded",
    ),
    (
        "Windows 10",
        Some(Uuid::from_u128(0xa3c2375d_0c8a_42f9_bce0_28333e198407)),
        "Windows10",
    ),
    (
        "Windows 10, version 1903 and later",
        Some(Uuid::from_u128(0xb3c75dc1_155f_4be4_b015_3f1a91758e52)),
        "Windows10",
    ),
    (
        "Windows 10 LTSB",
        Some(Uuid::from_u128(0xd2085b71_5f1f_43a9_880d_ed159016d5c6)),
        "Windows10LTSB",
    ),
    (
        "Windows 11",
        Some(Uuid::from_u128(0x72e7624a_5b00_45d2_b92f_e561c0a6a160)),
        "Windows11",
    ),
    (
        "Windows Server 2008",
        Some(Uuid::from_u128(0xba0ae9cc_5f01_40b4_ac3f_50192b5d6aaf)),
        "WindowsServer2008",
    ),
    (
        "Windows Server 2008 R2",
        Some(Uuid::from_u128(0xfdfe8200_9d98_44ba_a12a_772282bf60ef)),
        "WindowsServer2008R2",
    ),
    (
        "Windows Server 2012",
        Some(Uuid::from_u128(0xa105a108_7c9b_4518_bbbe_73f0fe30012b)),
        "WindowsServer2012",
    ),
    (
        "Windows Server 2012 R2",
        Some(Uuid::from_u128(0xd31bd4c3_d872_41c9_a2e7_231f372588cb)),
        "WindowsServer2012R2",
    ),
    (
        "Windows Server 2016",
        Some(Uuid::from_u128(0x569e8e8f_c6cd_42c8_92a3_efbb20a0f6f5)),
        "WindowsServer2016",
    ),
    (
        "Windows Server 2019",
        Some(Uuid::from_u128(0xf702a48c_919b_45d6_9aef_ca4248d50397)),
        "WindowsServer2019",
    ),
    (
        "Microsoft Server operating system-21H2",
        Some(Uuid::from_u128(0x71718f13_7324_4b0f_8f9e_2ca9dc978e53)),
        "WindowsServer2022",
    ),
    (
        "Microsoft Server operating system-24H2",
        None,
        "WindowsServer2025",
    ),
    (
        "Windows Defender",
        Some(Uuid::from_u128(0x8c3fcc84_7410_4a95_8b89_a166a0190486)),
        "MicrosoftDefenderAntivirus",
    ),
    ("Microsoft Defender Antivirus", None, "MicrosoftDefenderAntivirus"),
];

/// AWS `PRODUCT` names of the OS patch set (§2.1, including the expected Windows11/2025).
pub const OS_PRODUCTS: &[&str] = &[
    "Windows7",
    "Windows8",
    "Windows8.1",
    "Windows8Embedded",
    "Windows10",
    "Windows10LTSB",
    "Windows11",
    "WindowsServer2008",
    "WindowsServer2008R2",
    "WindowsServer2012",
    "WindowsServer2012R2",
    "WindowsServer2016",
    "WindowsServer2019",
    "WindowsServer2022",
    "WindowsServer2025",
    "MicrosoftDefenderAntivirus",
];

/// `MSRC_SEVERITY` values; updates without a severity count as `Unspecified`.
pub const MSRC_SEVERITIES: &[&str] = &["Critical", "Important", "Moderate", "Low", "Unspecified"];

/// `PATCH_SET` values.
pub const PATCH_SETS: &[&str] = &["OS", "APPLICATION"];

/// The product family of every OS update (§2.3: `PATCH_SET` is `OS` for this family).
pub const WINDOWS_FAMILY: &str = "Windows";

/// The severity an update without `MsrcSeverity` is matched as.
pub const UNSPECIFIED_SEVERITY: &str = "Unspecified";

/// The AWS `CLASSIFICATION` value of a classification GUID.
pub fn classification_by_id(id: &Uuid) -> Option<&'static str> {
    CLASSIFICATIONS
        .iter()
        .find(|(_, _, guid)| guid == id)
        .map(|(aws, _, _)| *aws)
}

/// The AWS `CLASSIFICATION` value of a WSUS title or of an AWS value (exact, as titles are
/// English only here; GUIDs are the reliable key).
pub fn classification_by_name(name: &str) -> Option<&'static str> {
    CLASSIFICATIONS
        .iter()
        .find(|(aws, title, _)| *aws == name || *title == name)
        .map(|(aws, _, _)| *aws)
}

/// True for an AWS `CLASSIFICATION` value.
pub fn is_classification(value: &str) -> bool {
    CLASSIFICATIONS.iter().any(|(aws, _, _)| *aws == value)
}

/// The built-in AWS `PRODUCT` name of a WSUS product, by GUID first, then by title
/// (ASCII case-insensitive).
pub fn builtin_product_alias(id: Option<&Uuid>, title: &str) -> Option<&'static str> {
    let by_id = id.and_then(|id| {
        PRODUCT_ALIASES
            .iter()
            .find(|(_, guid, _)| guid.as_ref() == Some(id))
    });
    by_id
        .or_else(|| {
            PRODUCT_ALIASES
                .iter()
                .find(|(name, _, _)| name.eq_ignore_ascii_case(title))
        })
        .map(|(_, _, aws)| *aws)
}

/// True for an AWS OS `PRODUCT` name.
pub fn is_os_product(value: &str) -> bool {
    OS_PRODUCTS.contains(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_guids_agree_with_the_model_table() {
        for (_, title, guid) in CLASSIFICATIONS {
            assert_eq!(
                crate::model::classification_by_title(title),
                Some(*guid),
                "{title}"
            );
        }
    }

    #[test]
    fn server_2022_is_the_21h2_server_product_by_guid_and_by_title() {
        let guid = Uuid::parse_str("71718f13-7324-4b0f-8f9e-2ca9dc978e53").unwrap();
        assert_eq!(builtin_product_alias(Some(&guid), ""), Some("WindowsServer2022"));
        assert_eq!(
            builtin_product_alias(None, "microsoft server operating system-21h2"),
            Some("WindowsServer2022")
        );
        assert_eq!(builtin_product_alias(None, "Office 2016"), None);
    }

    #[test]
    fn every_alias_target_is_an_os_product() {
        assert!(PRODUCT_ALIASES.iter().all(|(_, _, aws)| is_os_product(aws)));
    }

    #[test]
    fn classifications_resolve_by_guid_title_or_aws_value() {
        let security = Uuid::from_u128(0x0fa1201d_4330_4fa8_8ae9_b877473b6441);
        assert_eq!(classification_by_id(&security), Some("SecurityUpdates"));
        assert_eq!(classification_by_name("Update Rollups"), Some("UpdateRollups"));
        assert_eq!(classification_by_name("Tools"), Some("Tools"));
        assert_eq!(classification_by_name("Guidance"), None);
    }
}
