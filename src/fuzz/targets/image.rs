//! Image headers before decoding: format sniffing, the JPEG end-of-image walk, the GIF block walk
//! and the size checks that run before any pixel is decoded (`webp::encode`, small pixel limit).

use crate::fuzz::{check, deterministic, Sig, Target, Verdict};
use crate::webp::container::{gif_info, jpeg_complete};
use crate::webp::{encode, WebpOptions};

/// Small enough that a case never decodes much, large enough for the seed images.
const MAX_PIXELS: u64 = 64 * 64;

pub const TARGET: Target = Target {
    name: "image",
    properties: "no panic on any header; images above the pixel limit are refused before decoding; \
                 a WebP written is a well-formed RIFF/WEBP whose size field matches, with the claimed \
                 dimensions within the limit and at least one frame; deterministic bytes",
    dictionary: &[
        "\u{ff}\u{d8}\u{ff}",
        "\u{ff}\u{d9}",
        "\u{89}PNG\r\n\u{1a}\n",
        "IHDR",
        "IDAT",
        "IEND",
        "acTL",
        "fcTL",
        "GIF89a",
        "GIF87a",
        "NETSCAPE2.0",
        "!\u{f9}\u{4}",
        ",",
        ";",
    ],
    max_len: 8192,
    run,
};

fn run(input: &[u8]) -> Verdict {
    let opts = WebpOptions { max_pixels: MAX_PIXELS, ..WebpOptions::default() };
    let mut sig = Sig::new("image");
    let complete = jpeg_complete(input);
    let gif = gif_info(input);
    sig.add(&complete).bucket(gif.frames as usize).add(&gif.repeat.is_some());
    let first = encode(input, &opts);
    let second = encode(input, &opts);
    deterministic(
        "encode",
        &first.as_ref().map(|e| (&e.webp, e.width, e.height, e.alpha, e.frames)).map_err(ToString::to_string),
        &second.as_ref().map(|e| (&e.webp, e.width, e.height, e.alpha, e.frames)).map_err(ToString::to_string),
    )?;
    match first {
        Ok(e) => {
            let w = &e.webp;
            check(w.len() >= 12 && &w[..4] == b"RIFF" && &w[8..12] == b"WEBP", || "the output is not RIFF/WEBP".into())?;
            let size = u32::from_le_bytes([w[4], w[5], w[6], w[7]]) as usize;
            check(size + 8 == w.len(), || format!("RIFF size {size} + 8 != {} bytes", w.len()))?;
            check(e.width >= 1 && e.height >= 1 && u64::from(e.width) * u64::from(e.height) <= MAX_PIXELS, || {
                format!("{}×{} written past the limit", e.width, e.height)
            })?;
            check(e.frames >= 1, || "no frame".into())?;
            sig.add("ok").add(&(e.alpha, e.frames > 1));
        }
        Err(p) => {
            let msg = p.to_string();
            sig.add("err").message(&msg.chars().take(40).collect::<String>());
        }
    }
    Ok(sig.done())
}
