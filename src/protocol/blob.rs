//! `XmlUpdateBlobCompressed` (docs/protocol.md §8.4): a Microsoft Cabinet, LZX with a 2 MiB
//! window, holding one member whose bytes are the update document in UTF-16LE. Decoded with
//! the `cab` crate (LZX via `lzxd`) rather than by hand; the output is bounded so a hostile
//! cabinet cannot balloon memory.
//!
//! Encoded (when this server is a downstream server's upstream) as a one-member MSZIP
//! cabinet written here: no maintained crate writes LZX, and the `cab` crate's MSZIP writer
//! produced cabinets cabextract rejects for highly compressible input (docs/deps.md), which
//! update XML is. Every cabinet reader (Windows' FDI, cabextract, the `cab` crate) reads MSZIP.

use std::io::Read;

/// Largest decoded document accepted (real ones are below 1 MiB of UTF-16).
const MAX_DECODED_BYTES: u64 = 64 << 20;

/// Why an `XmlUpdateBlobCompressed` could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The `cab` crate could not read the cabinet or decompress its member.
    #[error("not a readable cabinet: {0}")]
    Cabinet(std::io::Error),
    /// The cabinet has no member.
    #[error("cabinet holds no file")]
    NoMember,
    /// The member decodes to more than the 64 MiB accepted.
    #[error("cabinet member decodes to more than {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    /// The member is not UTF-16LE text (odd length or unpaired surrogates).
    #[error("cabinet member is not UTF-16LE text")]
    NotUtf16,
}

/// Decodes a compressed blob to the update XML text.
pub fn decode_compressed(cab_bytes: &[u8]) -> Result<String, BlobError> {
    // cab 0.6.0 indexes past its list of data blocks (a panic) when a member starts beyond
    // its folder's data; a damaged blob from the upstream has to be an error, not a panic in
    // the sync. The panic hook still prints the crate's message.
    let raw = std::panic::catch_unwind(|| read_first_member(cab_bytes)).unwrap_or_else(|_| {
        Err(BlobError::Cabinet(std::io::Error::other(
            "the cabinet reader failed (a member placed past its folder's data?)",
        )))
    })?;
    if raw.len() as u64 > MAX_DECODED_BYTES {
        return Err(BlobError::TooLarge);
    }
    utf16le_to_string(&raw)
}

/// The bytes of the cabinet's first member, at most one past the accepted size.
fn read_first_member(cab_bytes: &[u8]) -> Result<Vec<u8>, BlobError> {
    let mut cabinet = cab::Cabinet::new(std::io::Cursor::new(cab_bytes)).map_err(BlobError::Cabinet)?;
    let name = first_member(&cabinet).ok_or(BlobError::NoMember)?;
    let size = cabinet
        .get_file_entry(&name)
        .map_or(0, |entry| u64::from(entry.uncompressed_size()));
    let reader = cabinet.read_file(&name).map_err(BlobError::Cabinet)?;
    // The member's declared size, up to the accepted one: the bytes land without regrowing.
    let mut raw = Vec::with_capacity(size.min(MAX_DECODED_BYTES) as usize);
    reader
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(BlobError::Cabinet)?;
    Ok(raw)
}

fn first_member<R: std::io::Read + std::io::Seek>(cabinet: &cab::Cabinet<R>) -> Option<String> {
    cabinet
        .folder_entries()
        .flat_map(|folder| folder.file_entries())
        .map(|file| file.name().to_string())
        .next()
}

/// Largest uncompressed bytes in one MSZIP data block (MS-MCI).
const MSZIP_BLOCK: usize = 32 * 1024;

/// Writes `document` as WSUS's `XmlUpdateBlobCompressed`: a cabinet with one folder (MSZIP)
/// and one member named `blob` holding the document in UTF-16LE without BOM. Each data block
/// is a complete deflate stream of at most 32 KiB of input, so no block depends on another.
pub fn encode_compressed(document: &str) -> Vec<u8> {
    let raw: Vec<u8> = document.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let blocks: Vec<(Vec<u8>, usize)> = raw
        .chunks(MSZIP_BLOCK)
        .map(|chunk| (mszip_block(chunk), chunk.len()))
        .collect();
    const HEADER: usize = 36;
    const FOLDER: usize = 8;
    const NAME: &[u8] = b"blob\0";
    let file_entry = 16 + NAME.len();
    let data_start = HEADER + FOLDER + file_entry;
    let data_len: usize = blocks.iter().map(|(b, _)| 8 + b.len()).sum();
    let mut out = Vec::with_capacity(data_start + data_len);
    // CFHEADER
    out.extend_from_slice(b"MSCF");
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&((data_start + data_len) as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&((HEADER + FOLDER) as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[3, 1]); // version 1.3
    out.extend_from_slice(&1u16.to_le_bytes()); // folders
    out.extend_from_slice(&1u16.to_le_bytes()); // files
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&0u16.to_le_bytes()); // set id
    out.extend_from_slice(&0u16.to_le_bytes()); // cabinet number
                                                // CFFOLDER
    out.extend_from_slice(&(data_start as u32).to_le_bytes());
    out.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // MSZIP
                                                // CFFILE
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // offset in the folder
    out.extend_from_slice(&0u16.to_le_bytes()); // folder 0
    out.extend_from_slice(&0x5821u16.to_le_bytes()); // 2024-01-01, as a fixed date
    out.extend_from_slice(&0u16.to_le_bytes()); // 00:00:00
    out.extend_from_slice(&0x20u16.to_le_bytes()); // archive
    out.extend_from_slice(NAME);
    // CFDATA, without checksums (0 = none, as MS-CAB allows)
    for (block, uncompressed) in &blocks {
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(block.len() as u16).to_le_bytes());
        out.extend_from_slice(&(*uncompressed as u16).to_le_bytes());
        out.extend_from_slice(block);
    }
    out
}

/// `CK` and one final raw deflate stream of `chunk`, in fixed-Huffman blocks: libmspack
/// (cabextract) refuses the one-code distance trees a dynamic block gets for repetitive input
/// (zlib always writes two codes; miniz does not), and fixed codes are complete by definition.
fn mszip_block(chunk: &[u8]) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        compress_to_output, create_comp_flags_from_zip_params, CompressionStrategy, CompressorOxide,
        TDEFLFlush,
    };
    let flags = create_comp_flags_from_zip_params(6, 0, CompressionStrategy::Fixed as i32);
    let mut compressor = CompressorOxide::new(flags);
    let mut out = b"CK".to_vec();
    let _ = compress_to_output(&mut compressor, chunk, TDEFLFlush::Finish, |bytes| {
        out.extend_from_slice(bytes);
        true
    });
    out
}

/// UTF-16LE (BOM optional) to a `String`. Update documents are almost all ASCII: an ASCII
/// code unit is copied as its byte, anything else decoded as UTF-16 up to the next ASCII one.
pub fn utf16le_to_string(raw: &[u8]) -> Result<String, BlobError> {
    if raw.len() % 2 != 0 {
        return Err(BlobError::NotUtf16);
    }
    let raw = raw.strip_prefix(&[0xFF, 0xFE]).unwrap_or(raw);
    let mut out = Vec::with_capacity(raw.len() / 2);
    let mut units = raw
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    while let Some(unit) = units.next() {
        if unit < 0x80 {
            out.push(unit as u8);
            continue;
        }
        let mut pending = Some(unit);
        let run = std::iter::from_fn(|| pending.take().or_else(|| units.next()));
        let mut ascii_after = None;
        for decoded in char::decode_utf16(run.map_while(|u| {
            if u < 0x80 {
                ascii_after = Some(u as u8);
                None
            } else {
                Some(u)
            }
        })) {
            let c = decoded.map_err(|_| BlobError::NotUtf16)?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        out.extend(ascii_after);
    }
    String::from_utf8(out).map_err(|_| BlobError::NotUtf16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three real blobs decode to exactly the documents WSUS served (the fixtures were
    /// decoded from the same blobs with cabextract, stored as UTF-8).
    #[test]
    fn real_blobs_decode_to_the_real_documents() {
        let cases: [(&[u8], &str); 3] = [
            (
                include_bytes!("../../tests/fixtures/upstream/a2fef9b0-r200.XmlUpdateBlobCompressed.cab"),
                include_str!("../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml"),
            ),
            (
                include_bytes!("../../tests/fixtures/upstream/266f6222-r200.XmlUpdateBlobCompressed.cab"),
                include_str!("../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml"),
            ),
            (
                include_bytes!("../../tests/fixtures/upstream/56309036-r101.XmlUpdateBlobCompressed.cab"),
                include_str!("../../tests/fixtures/upstream/56309036-4c77-4dd9-951a-99ee9c246a94-r101.xml"),
            ),
        ];
        for (cab, expected) in cases {
            let text = decode_compressed(cab).unwrap();
            assert_eq!(text.trim_end(), expected.trim_end());
        }
    }

    #[test]
    fn encoded_blobs_decode_to_the_document_in_one_and_many_blocks() {
        let real =
            include_str!("../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml");
        for document in [real, "<a/>", "", &"x".repeat(200_000)] {
            let cab = encode_compressed(document);
            assert_eq!(&cab[..4], b"MSCF");
            assert_eq!(decode_compressed(&cab).unwrap(), document);
        }
        // The 69,570-byte UTF-16 document takes three blocks and compresses well.
        let cab = encode_compressed(real);
        assert_eq!(u16::from_le_bytes([cab[40], cab[41]]), 3, "data blocks");
        assert!(cab.len() < real.len() / 2, "{} bytes", cab.len());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_compressed(b"not a cabinet").is_err());
        let real = include_bytes!("../../tests/fixtures/upstream/56309036-r101.XmlUpdateBlobCompressed.cab");
        assert!(decode_compressed(&real[..real.len() / 2]).is_err());
    }

    #[test]
    fn a_member_placed_past_its_folders_data_is_an_error_not_a_panic() {
        // Found by the property tests: the real blob with bit 0 of byte 50 flipped, which
        // moves its member's uoffFolderStart (CFFILE bytes 48..52) from 0 to 65,536, past the
        // folder's 29,156 bytes; the cab crate panicked indexing its data blocks.
        let mut damaged =
            include_bytes!("../../tests/fixtures/upstream/266f6222-r200.XmlUpdateBlobCompressed.cab")
                .to_vec();
        damaged[50] ^= 1;
        let err = decode_compressed(&damaged).unwrap_err();
        assert!(err.to_string().contains("cabinet"), "{err}");
    }

    #[test]
    fn utf16_with_and_without_bom() {
        assert_eq!(utf16le_to_string(&[b'a', 0]).unwrap(), "a");
        assert_eq!(utf16le_to_string(&[0xFF, 0xFE, b'a', 0]).unwrap(), "a");
        assert!(utf16le_to_string(b"a").is_err());
    }

    #[test]
    fn utf16_decodes_as_std_does_across_ascii_and_other_runs() {
        for text in ["", "plain", "Größe – ü€ <x/>", "a😀b", "😀", "é", "tail é"] {
            let raw: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            assert_eq!(utf16le_to_string(&raw).unwrap(), text);
        }
        // An unpaired surrogate after ASCII, and one alone.
        assert!(utf16le_to_string(&[b'a', 0, 0x00, 0xD8]).is_err());
        assert!(utf16le_to_string(&[0x00, 0xDC]).is_err());
    }
}
