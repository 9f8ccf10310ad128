//! A small deterministic generator of message values, and the `parse(build(x)) == x`
//! round trip the property tests run with it. Test-only.

use super::handshake::{computer_values_mut, Number, COMPUTER_FIELDS};
use super::*;
use crate::protocol::soap;
use crate::protocol::wusp::envelope;
use crate::protocol::xml;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A small deterministic generator of message values.
pub(super) struct Gen(StdRng);

const STRINGS: [&str; 10] = [
    "",
    "plain",
    r#"<&>"'"#,
    "é日本語🦀",
    "  leading and trailing  ",
    "line\r\nbreak\ttab",
    "]]>",
    "&amp; literally",
    "<UpdateIdentity UpdateID=\"x\" />",
    "\u{a0}\u{2028}",
];

impl Gen {
    pub(super) fn new(seed: u64) -> Gen {
        Gen(StdRng::seed_from_u64(seed))
    }

    pub(super) fn bool(&mut self) -> bool {
        self.0.gen()
    }

    pub(super) fn int(&mut self) -> i32 {
        match self.0.gen_range(0..4) {
            0 => [0, -1, i32::MIN, i32::MAX][self.0.gen_range(0..4)],
            _ => self.0.gen(),
        }
    }

    pub(super) fn short(&mut self) -> i16 {
        self.0.gen()
    }

    pub(super) fn revision(&mut self) -> u32 {
        self.0.gen_range(0..=i32::MAX as u32)
    }

    pub(super) fn uuid(&mut self) -> Uuid {
        Uuid::from_bytes(self.0.gen())
    }

    /// Empty a quarter of the time; otherwise up to 47 bytes.
    pub(super) fn bytes(&mut self) -> Vec<u8> {
        let len = if self.0.gen_range(0..4) == 0 {
            0
        } else {
            self.0.gen_range(1..48)
        };
        (0..len).map(|_| self.0.gen()).collect()
    }

    pub(super) fn string(&mut self) -> String {
        let first = STRINGS[self.0.gen_range(0..STRINGS.len())];
        let second = STRINGS[self.0.gen_range(0..STRINGS.len())];
        format!("{first}{second}")
    }

    pub(super) fn opt<T>(&mut self, f: impl FnOnce(&mut Gen) -> T) -> Option<T> {
        self.bool().then(|| f(self))
    }

    pub(super) fn vec<T>(&mut self, f: impl Fn(&mut Gen) -> T) -> Vec<T> {
        let len = self.0.gen_range(0..4);
        (0..len).map(|_| f(self)).collect()
    }

    pub(super) fn cookie(&mut self) -> Cookie {
        Cookie {
            expiration: self.string(),
            encrypted_data: self.opt(Gen::bytes),
        }
    }

    pub(super) fn auth_cookie(&mut self) -> AuthorizationCookie {
        AuthorizationCookie {
            plugin_id: self.string(),
            cookie_data: self.bytes(),
        }
    }

    pub(super) fn identity(&mut self) -> UpdateIdentity {
        UpdateIdentity {
            update_id: self.uuid(),
            revision: self.revision(),
        }
    }

    pub(super) fn deployment(&mut self) -> Deployment {
        let actions = DeploymentAction::ALL;
        Deployment {
            id: self.int(),
            action: actions[self.0.gen_range(0..actions.len())],
            deadline: self.opt(Gen::string),
            is_assigned: self.bool(),
            last_change_time: self.string(),
            download_priority: self.opt(Gen::string),
            auto_select: self.opt(Gen::string),
            auto_download: self.opt(Gen::string),
            supersedence_behavior: self.opt(Gen::string),
        }
    }

    pub(super) fn update_info(&mut self) -> UpdateInfo {
        UpdateInfo {
            id: self.int(),
            deployment: self.deployment(),
            is_leaf: self.bool(),
            xml: self.string().into(),
        }
    }

    pub(super) fn sync_info(&mut self) -> SyncInfo {
        SyncInfo {
            new_updates: self.vec(Gen::update_info),
            out_of_scope_revision_ids: self.vec(Gen::int),
            changed_updates: self.vec(Gen::update_info),
            truncated: self.bool(),
            new_cookie: self.cookie(),
            deployed_out_of_scope_revision_ids: self.opt(|g| g.vec(Gen::int)),
            driver_sync_not_needed: self.opt(Gen::bool),
        }
    }

    pub(super) fn file_location(&mut self) -> FileLocation {
        FileLocation {
            file_digest: self.bytes(),
            url: self.string(),
        }
    }

    pub(super) fn extended_update_info(&mut self) -> ExtendedUpdateInfo {
        ExtendedUpdateInfo {
            updates: self.vec(|g| (g.int(), g.string().into())),
            file_locations: self.vec(Gen::file_location),
            out_of_scope_revision_ids: self.vec(Gen::int),
        }
    }

    pub(super) fn computer(&mut self) -> ComputerInfo {
        let mut c = ComputerInfo::default();
        for (field, (_, number)) in computer_values_mut(&mut c).into_iter().zip(COMPUTER_FIELDS) {
            *field = match number {
                Number::Text | Number::Required => self.string(),
                Number::Int => self.int().to_string(),
                Number::Short => self.short().to_string(),
                Number::Byte => self.0.gen::<u8>().to_string(),
            };
        }
        c
    }

    pub(super) fn event(&mut self) -> ReportingEvent {
        ReportingEvent {
            target_sid: self.string(),
            sequence_number: self.0.gen(),
            time_at_target: self.string(),
            event_instance_id: self.uuid(),
            namespace_id: self.int(),
            event_id: self.short().into(),
            source_id: self.short().into(),
            update_id: self.identity(),
            win32_hresult: self.int(),
            app_name: self.string(),
            replacement_strings: self.vec(Gen::string),
            misc_data: self.vec(Gen::string),
            computer_brand: self.string(),
            computer_model: self.string(),
            bios_revision: self.string(),
            processor_architecture: self.string(),
            os_version: (0..6)
                .map(|_| self.int().to_string())
                .collect::<Vec<_>>()
                .join("."),
            os_locale_id: self.int(),
            device_id: self.string(),
        }
    }
}

/// `parse(build(x)) == x` for `CASES` generated values, also through the SOAP envelope.
pub(super) fn round_trip<T: PartialEq + std::fmt::Debug>(
    generate: impl Fn(&mut Gen) -> T,
    build: impl Fn(&T) -> String,
    parse: impl Fn(&Element) -> Parsed<T>,
    wrap: impl Fn(&str) -> String,
) {
    const CASES: u64 = 48;
    for seed in 0..CASES {
        let value = generate(&mut Gen::new(seed));
        let xml = build(&value);
        let element = xml::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        assert_eq!(
            parse(&element).unwrap_or_else(|f| panic!("{f:?}: {xml}")),
            value,
            "{xml}"
        );
        let wrapped = soap::parse_response(&wrap(&xml)).expect("envelope");
        assert_eq!(parse(&wrapped).expect("wrapped"), value);
    }
}

pub(super) fn request_round_trip<T: PartialEq + std::fmt::Debug>(
    generate: impl Fn(&mut Gen) -> T,
    build: impl Fn(&T) -> String,
    parse: impl Fn(&Element) -> Parsed<T>,
) {
    round_trip(generate, build, parse, envelope::request);
}

pub(super) fn response_round_trip<T: PartialEq + std::fmt::Debug>(
    op: Operation,
    generate: impl Fn(&mut Gen) -> T,
    build: impl Fn(&T) -> String,
    parse: impl Fn(&Element) -> Parsed<T>,
) {
    round_trip(generate, build, parse, |xml| envelope::response(op, xml));
}
