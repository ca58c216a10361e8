//! What the decoders do not tell us, read from the file's structure: whether a JPEG reaches its
//! end-of-image marker, and a GIF's frame count and loop count.

/// Whether a JPEG's segments lead to its end-of-image marker (EOI). zune-jpeg (the image crate's
/// JPEG decoder) fills a cut-off scan with grey instead of failing, so a truncated upload would
/// otherwise become a half-grey WebP. Segments are skipped by their length (an EXIF thumbnail's
/// own EOI sits inside APP1 and is skipped with it); in entropy-coded data `FF 00` is a stuffed
/// byte and `FF D0`–`FF D7` are restart markers, so the first other marker after a scan is real.
pub fn jpeg_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,
            0x00 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(len) = b.get(i..i + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
                    return false;
                };
                if len < 2 || i + len > b.len() {
                    return false;
                }
                i += len;
            }
        }
    }
}

/// What a GIF's block structure says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GifInfo {
    /// Image descriptors found (a truncated file counts the frames it starts).
    pub frames: u64,
    /// The NETSCAPE2.0 (or ANIMEXTS1.0) repetition count; `None` when the file has none, which
    /// browsers play once.
    pub repeat: Option<u16>,
    /// Width and height of the frame with the most pixels (frames may exceed the screen).
    pub largest_frame: (u16, u16),
}

/// Walks a GIF's blocks (header, colour tables, extensions, image descriptors and their
/// sub-blocks). Best effort: it stops quietly where the file is cut; the decoder reports that.
pub fn gif_info(b: &[u8]) -> GifInfo {
    let mut info = GifInfo { frames: 0, repeat: None, largest_frame: (0, 0) };
    let Some(&flags) = b.get(10) else { return info };
    let mut i = 13 + color_table_len(flags);
    while let Some(&block) = b.get(i) {
        match block {
            0x21 => {
                let Some(&label) = b.get(i + 1) else { break };
                i += 2;
                if label == 0xFF && b.get(i) == Some(&11) && matches!(b.get(i + 1..i + 12), Some(b"NETSCAPE2.0") | Some(b"ANIMEXTS1.0")) {
                    if let Some(&[3, 1, lo, hi]) = b.get(i + 12..i + 16) {
                        info.repeat = Some(u16::from_le_bytes([lo, hi]));
                    }
                }
                let Some(next) = skip_sub_blocks(b, i) else { break };
                i = next;
            }
            0x2C => {
                info.frames += 1;
                let Some(d) = b.get(i + 1..i + 10) else { break };
                let (w, h) = (u16::from_le_bytes([d[4], d[5]]), u16::from_le_bytes([d[6], d[7]]));
                let area = |(w, h): (u16, u16)| u32::from(w) * u32::from(h);
                if area((w, h)) > area(info.largest_frame) {
                    info.largest_frame = (w, h);
                }
                let flags = d[8];
                // Descriptor (10 bytes), local colour table, LZW minimum code size (1 byte).
                i += 10 + color_table_len(flags) + 1;
                let Some(next) = skip_sub_blocks(b, i) else { break };
                i = next;
            }
            _ => break, // 0x3B (trailer) or garbage after the last block
        }
    }
    info
}

fn color_table_len(flags: u8) -> usize {
    if flags & 0x80 != 0 {
        3 << ((flags & 7) + 1)
    } else {
        0
    }
}

/// The index after a chain of sub-blocks (each a length byte and that many bytes, ended by 0).
fn skip_sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = usize::from(*b.get(i)?);
        i += 1;
        if len == 0 {
            return Some(i);
        }
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(body: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn jpeg_needs_its_end_marker_after_the_scan() {
        // APP1 holding a thumbnail's own EOI, then SOS, entropy data with a stuffed FF 00 and a
        // restart marker, then EOI.
        let app1 = [0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        let sos = [0xFF, 0xDA, 0x00, 0x04, 0x00, 0x00];
        let data = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56];
        let mut whole = jpeg(&app1);
        whole.extend_from_slice(&sos);
        whole.extend_from_slice(&data);
        assert!(!jpeg_complete(&whole), "no EOI yet: the thumbnail's EOI inside APP1 does not count");
        whole.extend_from_slice(&[0xFF, 0xD9]);
        assert!(jpeg_complete(&whole));
        whole.extend_from_slice(b"trailing bytes after EOI are fine");
        assert!(jpeg_complete(&whole));
        assert!(!jpeg_complete(b"hello"));
        assert!(!jpeg_complete(&jpeg(&[0xFF, 0xE0, 0x00, 0x40, 0x01])), "segment longer than the file");
    }

    #[test]
    fn gif_frames_and_repeat() {
        let mut g = b"GIF89a".to_vec();
        g.extend_from_slice(&[2, 0, 2, 0, 0x80, 0, 0]); // 2×2, global table of 2 colours
        g.extend_from_slice(&[0; 6]);
        g.extend_from_slice(&[0x21, 0xFF, 11]);
        g.extend_from_slice(b"NETSCAPE2.0");
        g.extend_from_slice(&[3, 1, 5, 0, 0]);
        for _ in 0..3 {
            g.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0]);
            g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 2, 0x44, 0x01, 0]);
        }
        g.push(0x3B);
        assert_eq!(gif_info(&g), GifInfo { frames: 3, repeat: Some(5), largest_frame: (2, 2) });
        assert_eq!(gif_info(&g[..g.len() - 10]), GifInfo { frames: 3, repeat: Some(5), largest_frame: (2, 2) });
        assert_eq!(gif_info(b"GIF89a"), GifInfo { frames: 0, repeat: None, largest_frame: (0, 0) });
    }
}
