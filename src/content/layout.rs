//! Where a payload is: its URL path as WSUS lays it out (`/Content/<XX>/<SHA1HEX>.<ext>`,
//! docs/protocol.md §5.4) and its file below the cache root (`<XX>/<SHA1HEX>`, or
//! `tmp/<SHA1HEX>.partial` while it is written), and those file names read back into
//! digests. Pure: the disk path is built from the digest alone, so request text never
//! reaches the file system.

use super::Sha1;
use crate::model::upper_hex;
use std::ffi::OsStr;
use std::path::PathBuf;

/// The longest extension accepted in a content URL (`.cab`, `.msu`, `.psf`, `.esd` … are 3).
const MAX_EXTENSION: usize = 8;

/// The folder below the root where writes in progress live.
pub(super) const TMP_DIR: &str = "tmp";
/// A write in progress is `tmp/<SHA1HEX>.partial`.
pub(super) const PARTIAL_SUFFIX: &str = ".partial";

/// A parsed content URL: the digest it names and its extension (lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPath {
    pub(crate) sha1: Sha1,
    pub(crate) extension: String,
}

/// `/Content/<XX>/<SHA1HEX>.<ext>` in any letter case → digest; XX must be the last digest byte
/// in hex (two digits), the hex 40 digits, the extension 1–8 ASCII alphanumerics. Anything
/// else — traversal (`..`, `%2e`), backslashes, extra or empty segments, NUL — is `None`.
pub fn parse_content_path(path: &str) -> Option<ContentPath> {
    let mut segments = path.split('/');
    let (Some(""), Some(root), Some(folder), Some(file), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if !root.eq_ignore_ascii_case("content") {
        return None;
    }
    let (hex, extension) = file.split_once('.')?;
    let sha1 = parse_hex(hex)?;
    if !valid_extension(extension) || parse_hex::<1>(folder)? != [sha1[19]] {
        return None;
    }
    Some(ContentPath {
        sha1,
        extension: extension.to_ascii_lowercase(),
    })
}

/// `<base>/Content/<XX>/<SHA1HEX>.<ext>`: a payload's URL on a server laid out as WSUS is.
pub fn content_url(base: &str, sha1: &Sha1, extension: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), url_path(sha1, extension))
}

/// The URL path WSUS clients use for a payload; the inverse of [`parse_content_path`].
pub fn url_path(sha1: &Sha1, extension: &str) -> String {
    format!(
        "/Content/{}/{}.{}",
        folder(sha1),
        upper_hex(sha1),
        extension.to_ascii_lowercase()
    )
}

/// Where a committed payload lives below the cache root: `<XX>/<SHA1HEX>` (upper-case hex,
/// no extension), built from the digest only — never from request text.
pub fn relative_path(sha1: &Sha1) -> PathBuf {
    PathBuf::from(folder(sha1)).join(upper_hex(sha1))
}

/// The shard folder: the last digest byte as two upper-case hex digits.
fn folder(sha1: &Sha1) -> String {
    upper_hex(&sha1[19..])
}

/// Exactly `2 * N` hex digits (either case) as bytes.
fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(bytes)
}

/// One hex digit's value.
fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

/// 1–8 ASCII letters or digits.
fn valid_extension(extension: &str) -> bool {
    (1..=MAX_EXTENSION).contains(&extension.len()) && extension.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The digest a committed file name stands for, if it is well formed and in shard `byte`.
pub(super) fn committed_name(name: &OsStr, byte: u8) -> Option<Sha1> {
    let sha1 = decode_upper_hex::<20>(name.to_str()?)?;
    (sha1[19] == byte).then_some(sha1)
}

/// The byte a shard folder name (`<XX>`, upper-case hex) stands for.
pub(super) fn shard_byte(name: &OsStr) -> Option<u8> {
    decode_upper_hex::<1>(name.to_str()?).map(|[byte]| byte)
}

/// The file name of a write in progress: `<SHA1HEX>.partial`.
pub(super) fn partial_name(sha1: &Sha1) -> String {
    format!("{}{PARTIAL_SUFFIX}", upper_hex(sha1))
}

/// Exactly `2 * N` upper-case hex digits (the only spelling this module writes).
pub(super) fn decode_upper_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    parse_hex(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The digest of the URL captured from a real WSUS (docs/protocol.md §5.4).
    const REAL: &str = "A379D5526FB3A7A0423DA1CD7FC3182A8D448449";

    fn digest(hex: &str) -> Sha1 {
        parse_hex(hex).expect("40 hex digits")
    }

    /// A digest whose last byte is 0x0A, for the leading-zero folder.
    fn leading_zero() -> Sha1 {
        let mut sha1 = digest(REAL);
        sha1[19] = 0x0A;
        sha1
    }

    #[test]
    fn real_wsus_url_parses() {
        let uri: hyper::Uri = format!("http://wsus.example:8530/Content/49/{REAL}.exe")
            .parse()
            .unwrap();
        let parsed = parse_content_path(uri.path()).unwrap();
        assert_eq!(upper_hex(&parsed.sha1), REAL);
        assert_eq!(parsed.sha1[19], 0x49);
        assert_eq!(parsed.extension, "exe");
    }

    #[test]
    fn letter_case_does_not_matter() {
        let lower = REAL.to_ascii_lowercase();
        for path in [
            format!("/content/49/{REAL}.exe"),
            format!("/CONTENT/49/{lower}.EXE"),
            format!("/Content/49/{}{}.Exe", &REAL[..20], &lower[20..]),
        ] {
            let parsed = parse_content_path(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(parsed.sha1, digest(REAL), "{path}");
            assert_eq!(parsed.extension, "exe", "{path}");
        }
    }

    #[test]
    fn folder_letter_case_does_not_matter() {
        let sha1 = leading_zero();
        let hex = upper_hex(&sha1);
        assert_eq!(
            parse_content_path(&format!("/Content/0a/{hex}.cab"))
                .unwrap()
                .sha1,
            sha1
        );
        assert_eq!(
            parse_content_path(&format!("/Content/0A/{hex}.cab"))
                .unwrap()
                .sha1,
            sha1
        );
    }

    #[test]
    fn leading_zero_folder_has_two_digits() {
        let sha1 = leading_zero();
        let hex = upper_hex(&sha1);
        assert!(hex.ends_with("0A"));
        assert_eq!(parse_content_path(&format!("/Content/A/{hex}.cab")), None);
        assert_eq!(parse_content_path(&format!("/Content/00A/{hex}.cab")), None);
        assert_eq!(relative_path(&sha1), PathBuf::from("0A").join(&hex));
        assert_eq!(url_path(&sha1, "cab"), format!("/Content/0A/{hex}.cab"));
    }

    #[test]
    fn extensions_of_known_payloads() {
        for extension in [
            "exe",
            "cab",
            "msu",
            "psf",
            "esd",
            "msi",
            "appx",
            "msixbundl",
            "x",
            "7z",
        ] {
            let path = format!("/Content/49/{REAL}.{extension}");
            let parsed = parse_content_path(&path);
            assert_eq!(parsed.is_some(), extension.len() <= 8, "{path}");
        }
    }

    #[test]
    fn url_path_round_trips() {
        for sha1 in [digest(REAL), leading_zero(), [0; 20], [0xFF; 20]] {
            let path = url_path(&sha1, "MSU");
            let parsed = parse_content_path(&path).unwrap();
            assert_eq!(
                parsed,
                ContentPath {
                    sha1,
                    extension: "msu".into()
                }
            );
        }
    }

    #[test]
    fn sha1_hex_is_upper_case_and_padded() {
        assert_eq!(upper_hex(&digest(REAL)), REAL);
        assert_eq!(upper_hex(&[0; 20]), "0".repeat(40));
        assert_eq!(upper_hex(&[0x0A; 20]), "0A".repeat(20));
    }

    #[test]
    fn relative_path_is_folder_then_hex_without_extension() {
        let path = relative_path(&digest(REAL));
        let parts: Vec<_> = path.iter().map(|part| part.to_str().unwrap()).collect();
        assert_eq!(parts, ["49", REAL]);
        assert!(path.is_relative());
    }

    #[test]
    fn wrong_folder_is_refused() {
        assert_eq!(parse_content_path(&format!("/Content/48/{REAL}.exe")), None);
        assert_eq!(parse_content_path(&format!("/Content/A3/{REAL}.exe")), None);
    }

    #[test]
    fn traversal_and_malformed_paths_are_refused() {
        let lower = REAL.to_ascii_lowercase();
        let short = &REAL[..39];
        for path in [
            String::new(),
            "/".into(),
            "/Content".into(),
            "/Content/".into(),
            "/Content/49".into(),
            "/Content/49/".into(),
            format!("Content/49/{REAL}.exe"),
            format!("//Content/49/{REAL}.exe"),
            format!("/Content//49/{REAL}.exe"),
            format!("/Content/49//{REAL}.exe"),
            format!("/Content/49/{REAL}.exe/"),
            format!("/Content/49/{REAL}.exe/.."),
            format!("/Content/49/../49/{REAL}.exe"),
            format!("/Content/../Content/49/{REAL}.exe"),
            format!("/../Content/49/{REAL}.exe"),
            format!("/Content/49/..%2f{REAL}.exe"),
            format!("/Content/%2e%2e/{REAL}.exe"),
            "/Content/49/%2e%2e".into(),
            format!("/Content/49/{REAL}.%2e"),
            format!("/Content/49/{REAL}%2eexe"),
            format!("/Content/%34%39/{REAL}.exe"),
            format!("/Content\\49\\{REAL}.exe"),
            format!("/Content/49\\{REAL}.exe"),
            format!("/Content/49/..\\..\\{REAL}.exe"),
            format!("/Content/49/{REAL}.exe\0"),
            format!("/Content/49/{REAL}\0.exe"),
            format!("/Content/4\09/{REAL}.exe"),
            format!("/Content/49/{REAL}"),
            format!("/Content/49/{REAL}."),
            format!("/Content/49/.{REAL}"),
            format!("/Content/49/{REAL}..exe"),
            format!("/Content/49/{REAL}.tar.gz"),
            format!("/Content/49/{REAL}.ex-e"),
            format!("/Content/49/{REAL}.ex e"),
            format!("/Content/49/{REAL}.exe "),
            format!("/Content/49/{REAL}.exe?x=1"),
            format!("/Content/49/{REAL}.exe#x"),
            format!("/Content/49/{REAL}.abcdefghi"),
            format!("/Content/49/{REAL}.éxe"),
            format!("/Content/49/{short}.exe"),
            format!("/Content/49/{REAL}0.exe"),
            format!("/Content/49/ {REAL}.exe"),
            format!("/Content/49/+{}.exe", &REAL[1..]),
            format!("/Content/49/{}G.exe", &REAL[..39]),
            format!("/Content/ 49/{REAL}.exe"),
            format!("/Content/+9/{REAL}.exe"),
            format!("/Content/4/{REAL}.exe"),
            format!("/Content/049/{REAL}.exe"),
            format!("/Contents/49/{REAL}.exe"),
            format!("/Content./49/{REAL}.exe"),
            format!("/SelfUpdate/49/{REAL}.exe"),
            format!("/x/Content/49/{REAL}.exe"),
            format!("/Content/x/49/{REAL}.exe"),
            format!("/Content/49/x/{lower}.exe"),
            format!("/Content/49/{REAL}.exe/{REAL}.exe"),
        ] {
            assert_eq!(parse_content_path(&path), None, "{path:?}");
        }
    }

    #[test]
    fn relative_path_is_last_byte_shard_and_upper_case_hex() {
        let mut sha1 = [0xab; 20];
        sha1[19] = 0x0c;
        let expected = Path::new("0C").join(format!("{}0C", "AB".repeat(19)));
        assert_eq!(relative_path(&sha1), expected);
        assert_eq!(committed_name(expected.file_name().unwrap(), 0x0c), Some(sha1));
        assert_eq!(committed_name(expected.file_name().unwrap(), 0x0d), None);
        let lower = expected.file_name().unwrap().to_str().unwrap().to_lowercase();
        assert_eq!(committed_name(OsStr::new(&lower), 0x0c), None);
    }
}
