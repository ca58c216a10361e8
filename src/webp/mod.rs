//! kiln-webp: deterministic WebP encoding of JPEG, PNG and GIF images.
//!
//! Each image is decoded with the `image` crate (EXIF orientation applied; dimensions read from
//! the header and checked against a pixel limit before any pixel is decoded) and encoded with
//! libwebp built from libwebp-sys's bundled source: single-threaded, so the
//! bytes never depend on the machine's or the batch's thread count, and without metadata (EXIF,
//! XMP and ICC are not written). JPEG and PNG are lossy at `quality` unless `lossless`; GIF is
//! always lossless (as gif2webp does by default: palette art is what lossless WebP is for, and
//! lossy ringing shows on flat colour). An animated GIF or APNG becomes an animated WebP with its
//! frame durations and loop count.

pub mod container;
mod libwebp;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

use image::codecs::gif::GifDecoder;
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::metadata::LoopCount;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, Limits};
use rayon::prelude::*;

use crate::fsutil::{self, FsError};

/// Default `--max-pixels`: 100 megapixels (a 10000×10000 image; 400 MB of RGBA once decoded).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;
/// WebP's largest width and height.
pub const WEBP_MAX_DIMENSION: u32 = 16383;
/// An animation's frames together may hold this many times the pixel limit (frames are decoded
/// and encoded one at a time, so this bounds time, not memory).
pub const ANIMATION_PIXEL_FACTOR: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebpOptions {
    /// 0–100: lossy quality, or the compression effort when lossless (as cwebp's `-q`).
    pub quality: f32,
    pub lossless: bool,
    /// Near-lossless preprocessing level 0–100 (100 = off); implies lossless.
    pub near_lossless: Option<u8>,
    /// Images with more pixels than this are refused before decoding.
    pub max_pixels: u64,
}

impl Default for WebpOptions {
    fn default() -> Self {
        WebpOptions { quality: 80.0, lossless: false, near_lossless: None, max_pixels: DEFAULT_MAX_PIXELS }
    }
}

/// Why one image could not be converted (the path is added by [`WebpError`]).
#[derive(Debug, thiserror::Error)]
pub enum ImageProblem {
    #[error("empty file (0 bytes), not an image")]
    Empty,
    #[error("not a JPEG, PNG or GIF image (it starts with {0})")]
    NotAnImage(String),
    #[error("{width}×{height} is {pixels} pixels, above the limit of {limit} (--max-pixels); not decoded")]
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("an animation of at least {frames} frames of {width}×{height} is above {factor}× the limit of {limit} pixels (--max-pixels)")]
    AnimationTooLarge { frames: u64, width: u32, height: u32, factor: u64, limit: u64 },
    #[error("{width}×{height} is larger than WebP allows ({WEBP_MAX_DIMENSION}×{WEBP_MAX_DIMENSION})")]
    TooLargeForWebp { width: u32, height: u32 },
    #[error("truncated JPEG: the file ends before its end-of-image marker")]
    TruncatedJpeg,
    #[error("no image in it")]
    NoFrames,
    #[error("cannot decode {format}: {why}")]
    Decode { format: &'static str, why: String },
    #[error("WebP encoding failed: {0}")]
    Encode(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebpError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: {problem}")]
    Image { path: String, problem: ImageProblem },
    #[error("{path}: not an image kiln-webp converts (.jpg, .jpeg, .png or .gif)")]
    Extension { path: String },
    #[error("{path}: its WebP {webp} would also be the WebP of {other}")]
    Collision { path: String, webp: String, other: String },
}

/// One encoded image.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub webp: Vec<u8>,
    /// Dimensions after EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// Whether the WebP carries transparency (only when the source has a non-opaque pixel).
    pub alpha: bool,
    /// 1 for a still image.
    pub frames: u64,
}

/// Decodes one JPEG, PNG or GIF (by content, not by name) and encodes it to WebP.
pub fn encode(bytes: &[u8], opts: &WebpOptions) -> Result<Encoded, ImageProblem> {
    if bytes.is_empty() {
        return Err(ImageProblem::Empty);
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => encode_jpeg(bytes, opts),
        Ok(ImageFormat::Png) => encode_png(bytes, opts),
        Ok(ImageFormat::Gif) => encode_gif(bytes, opts),
        _ => Err(ImageProblem::NotAnImage(preview(bytes))),
    }
}

fn decode_err(format: &'static str) -> impl Fn(image::ImageError) -> ImageProblem {
    move |e| ImageProblem::Decode { format, why: e.to_string() }
}

fn encode_jpeg(bytes: &[u8], opts: &WebpOptions) -> Result<Encoded, ImageProblem> {
    if !container::jpeg_complete(bytes) {
        return Err(ImageProblem::TruncatedJpeg);
    }
    // Reads the headers only: the dimensions are checked before any pixel is decoded.
    let mut decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(decode_err("JPEG"))?;
    decoder.set_limits(limits(opts)).map_err(decode_err("JPEG"))?;
    encode_decoded(decoder, "JPEG", opts)
}

fn encode_png(bytes: &[u8], opts: &WebpOptions) -> Result<Encoded, ImageProblem> {
    let decoder = PngDecoder::with_limits(Cursor::new(bytes), limits(opts)).map_err(decode_err("PNG"))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, opts)?;
    if decoder.is_apng().map_err(decode_err("PNG"))? {
        let apng = decoder.apng().map_err(decode_err("PNG"))?;
        // APNG and WebP both count plays.
        let loop_count = match apng.loop_count() {
            LoopCount::Infinite => 0,
            LoopCount::Finite(n) => u16::try_from(n.get()).unwrap_or(u16::MAX),
        };
        return encode_frames(apng.into_frames(), (width, height), loop_count, Delays::AsGiven, "PNG", &config(opts, false)?, opts);
    }
    encode_decoded(decoder, "PNG", opts)
}

/// A still image: size check, decode, EXIF orientation, encode.
fn encode_decoded(mut decoder: impl ImageDecoder, format: &'static str, opts: &WebpOptions) -> Result<Encoded, ImageProblem> {
    let (width, height) = decoder.dimensions();
    check_size(width, height, opts)?;
    let orientation = decoder.orientation().map_err(decode_err(format))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_err(format))?;
    img.apply_orientation(orientation);
    encode_still(img, &config(opts, false)?)
}

fn encode_gif(bytes: &[u8], opts: &WebpOptions) -> Result<Encoded, ImageProblem> {
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(decode_err("GIF"))?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, opts)?;
    let info = container::gif_info(bytes);
    // A frame may be larger than the screen it is drawn on; it is decoded whole.
    let (fw, fh) = info.largest_frame;
    check_size(u32::from(fw), u32::from(fh), opts)?;
    let total = u64::from(width) * u64::from(height) * info.frames;
    if info.frames > 1 && total > opts.max_pixels.saturating_mul(ANIMATION_PIXEL_FACTOR) {
        return Err(ImageProblem::AnimationTooLarge { frames: info.frames, width, height, factor: ANIMATION_PIXEL_FACTOR, limit: opts.max_pixels });
    }
    decoder.set_limits(limits(opts)).map_err(decode_err("GIF"))?;
    // GIF's count is of repeats after the first play, WebP's of plays; no count means play once
    // (the conversion gif2webp makes).
    let loop_count = match info.repeat {
        None => 1,
        Some(0) => 0,
        Some(n) => n.saturating_add(1),
    };
    encode_frames(decoder.into_frames(), (width, height), loop_count, Delays::Gif, "GIF", &config(opts, true)?, opts)
}

/// How frame delays become WebP durations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delays {
    /// As gif2webp and browsers do for GIFs: 10 ms or less is shown for 100 ms.
    Gif,
    AsGiven,
}

/// One frame: a still WebP; more: an animated one. Frames are decoded and encoded one at a time.
fn encode_frames(
    frames: image::Frames<'_>,
    (width, height): (u32, u32),
    loop_count: u16,
    delays: Delays,
    format: &'static str,
    config: &libwebp_sys::WebPConfig,
    opts: &WebpOptions,
) -> Result<Encoded, ImageProblem> {
    let mut frames = frames.peekable();
    let first = frames.next().ok_or(ImageProblem::NoFrames)?.map_err(decode_err(format))?;
    if frames.peek().is_none() {
        return encode_still(DynamicImage::ImageRgba8(first.into_buffer()), config);
    }
    let pixels = u64::from(width) * u64::from(height);
    let budget = opts.max_pixels.saturating_mul(ANIMATION_PIXEL_FACTOR);
    let mut count = 0u64;
    let mut alpha = false;
    let anim_frames = std::iter::once(Ok(first)).chain(frames).map(|f| {
        let f = f.map_err(decode_err(format))?;
        count += 1;
        if count.saturating_mul(pixels) > budget {
            return Err(ImageProblem::AnimationTooLarge { frames: count, width, height, factor: ANIMATION_PIXEL_FACTOR, limit: opts.max_pixels });
        }
        let (num, den) = f.delay().numer_denom_ms();
        let ms = num.checked_div(den).unwrap_or(0);
        let duration_ms = match delays {
            Delays::Gif if ms <= 10 => 100,
            _ => i32::try_from(ms).unwrap_or(i32::MAX),
        };
        let rgba = f.into_buffer().into_raw();
        alpha |= rgba.chunks_exact(4).any(|p| p[3] != 255);
        Ok(libwebp::AnimFrame { rgba, duration_ms })
    });
    let webp = libwebp::encode(width, height, loop_count, config, anim_frames).map_err(|e| match e {
        libwebp::AnimError::Frame(problem) => problem,
        libwebp::AnimError::Encode(why) => ImageProblem::Encode(why),
    })?;
    Ok(Encoded { webp, width, height, alpha, frames: count })
}

fn check_size(width: u32, height: u32, opts: &WebpOptions) -> Result<(), ImageProblem> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > opts.max_pixels {
        return Err(ImageProblem::TooManyPixels { width, height, pixels, limit: opts.max_pixels });
    }
    if width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION {
        return Err(ImageProblem::TooLargeForWebp { width, height });
    }
    Ok(())
}

/// The decoders' own allocation limit, in line with --max-pixels (16-bit RGBA is 8 bytes a pixel).
fn limits(opts: &WebpOptions) -> Limits {
    let mut l = Limits::default();
    l.max_alloc = Some(opts.max_pixels.saturating_mul(8).max(64 << 20));
    l
}

/// libwebp's configuration: the default preset and method 4 (cwebp's defaults), one thread.
fn config(opts: &WebpOptions, gif: bool) -> Result<libwebp_sys::WebPConfig, ImageProblem> {
    let mut c = libwebp_sys::WebPConfig::new().map_err(|_| ImageProblem::Encode("libwebp ABI mismatch".into()))?;
    c.quality = opts.quality;
    c.lossless = i32::from(opts.lossless || opts.near_lossless.is_some() || gif);
    if let Some(n) = opts.near_lossless {
        c.near_lossless = i32::from(n);
    }
    // libwebp's multi-threading is deterministic too, but one thread per image keeps every
    // core busy with a batch and leaves no doubt.
    c.thread_level = 0;
    Ok(c)
}

fn encode_still(img: DynamicImage, config: &libwebp_sys::WebPConfig) -> Result<Encoded, ImageProblem> {
    let (width, height) = (img.width(), img.height());
    let mut alpha = false;
    let (pixels, layout) = if img.color().has_alpha() {
        let rgba = img.into_rgba8().into_raw();
        alpha = rgba.chunks_exact(4).any(|p| p[3] != 255);
        if alpha {
            (rgba, libwebp::Layout::Rgba)
        } else {
            // Fully opaque: encode without an alpha channel.
            (rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(), libwebp::Layout::Rgb)
        }
    } else {
        (img.into_rgb8().into_raw(), libwebp::Layout::Rgb)
    };
    let webp = libwebp::encode_still(&pixels, layout, width, height, config).map_err(ImageProblem::Encode)?;
    Ok(Encoded { webp, width, height, alpha, frames: 1 })
}

/// The first bytes of a file that is not an image, for the error message.
fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(12)];
    if head.iter().all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)) {
        let mut s = format!("{:?}", String::from_utf8_lossy(head));
        if bytes.len() > head.len() {
            s.insert(s.len() - 1, '…');
        }
        s
    } else {
        head.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }
}

/// `img/a.jpg` → `img/a.webp`; `None` for a name kiln-webp does not convert.
pub fn webp_rel(rel: &str) -> Option<String> {
    let (stem, ext) = rel.rsplit_once('.')?;
    if stem.is_empty() || stem.ends_with('/') || ext.contains('/') {
        return None;
    }
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "png" | "gif" => Some(format!("{stem}.webp")),
        _ => None,
    }
}

/// One input: its path as given and its path relative to the root (which its outputs keep).
#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub rel: String,
}

/// What one input becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Output files, relative to the output directory.
    pub files: Vec<(String, Vec<u8>)>,
    /// `(original rel, webp rel)` when references must follow the original to the WebP.
    pub rename: Option<(String, String)>,
    /// Said on stderr: the WebP was not smaller, so the original was kept.
    pub note: Option<String>,
}

/// Converts a batch in parallel (on the current rayon pool). Results are in the jobs' order.
/// With `replace`, an image whose WebP is smaller becomes only the WebP (and a rename); one whose
/// WebP is not smaller stays as it is (with a note). Without it, both are written, no renames.
pub fn convert_batch(jobs: &[Job], opts: &WebpOptions, replace: bool) -> Vec<Result<Converted, WebpError>> {
    // Decided before any encoding, from names alone, so that it does not depend on sizes.
    let mut first_for: BTreeMap<String, &Job> = BTreeMap::new();
    let mut planned: Vec<Result<String, WebpError>> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let path = fsutil::display(&job.input);
        planned.push(match webp_rel(&job.rel) {
            None => Err(WebpError::Extension { path }),
            Some(w) => match first_for.get(&w) {
                Some(other) if other.rel != job.rel => Err(WebpError::Collision { path, webp: w, other: fsutil::display(&other.input) }),
                _ => {
                    first_for.insert(w.clone(), job);
                    Ok(w)
                }
            },
        });
    }
    // Largest files first, one image per task: a big image started last would leave the other
    // cores idle while it encodes. Only the schedule changes; results go back to the jobs' order.
    let mut tasks: Vec<(usize, Result<String, WebpError>)> = planned.into_iter().enumerate().collect();
    let size = |i: usize| std::fs::metadata(&jobs[i].input).map(|m| m.len()).unwrap_or(0);
    tasks.sort_by_cached_key(|(i, _)| (std::cmp::Reverse(size(*i)), *i));
    let mut done: Vec<(usize, Result<Converted, WebpError>)> = tasks
        .into_par_iter()
        .with_max_len(1)
        .map(|(i, plan)| (i, plan.and_then(|webp_rel| convert_one(&jobs[i], &webp_rel, opts, replace))))
        .collect();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn convert_one(job: &Job, webp_rel: &str, opts: &WebpOptions, replace: bool) -> Result<Converted, WebpError> {
    let original = fsutil::read(&job.input)?;
    convert_bytes(&job.rel, webp_rel, original, &fsutil::display(&job.input), opts, replace)
}

/// What the image `rel` (its bytes `original`, named `path` in messages) becomes; see
/// [`convert_batch`]. `kiln build` calls this too, so its dist has kiln-webp's bytes.
pub fn convert_bytes(rel: &str, webp_rel: &str, original: Vec<u8>, path: &str, opts: &WebpOptions, replace: bool) -> Result<Converted, WebpError> {
    let path = path.to_string();
    let encoded = encode(&original, opts).map_err(|problem| WebpError::Image { path: path.clone(), problem })?;
    let (webp_len, orig_len) = (encoded.webp.len(), original.len());
    if !replace {
        return Ok(Converted { files: vec![(rel.to_string(), original), (webp_rel.to_string(), encoded.webp)], rename: None, note: None });
    }
    if webp_len < orig_len {
        Ok(Converted { files: vec![(webp_rel.to_string(), encoded.webp)], rename: Some((rel.to_string(), webp_rel.to_string())), note: None })
    } else {
        Ok(Converted {
            files: vec![(rel.to_string(), original)],
            rename: None,
            note: Some(format!("{path}: kept the original: its WebP would be {webp_len} bytes, not smaller than its {orig_len}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, alpha: bool) -> DynamicImage {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            let a = if alpha && x < w / 2 { (y * 255 / h) as u8 } else { 255 };
            image::Rgba([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8, a])
        });
        DynamicImage::ImageRgba8(img)
    }

    fn png_bytes(img: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn webp_names() {
        assert_eq!(webp_rel("img/a.jpg").as_deref(), Some("img/a.webp"));
        assert_eq!(webp_rel("img/a.b.JPEG").as_deref(), Some("img/a.b.webp"));
        assert_eq!(webp_rel("a.gif").as_deref(), Some("a.webp"));
        assert_eq!(webp_rel("img/a.svg"), None);
        assert_eq!(webp_rel("img/.png"), None);
        assert_eq!(webp_rel("img.png/a"), None);
        assert_eq!(webp_rel("README"), None);
    }

    #[test]
    fn alpha_is_kept_only_where_there_is_transparency() {
        let opts = WebpOptions::default();
        let with = encode(&png_bytes(&gradient(64, 48, true)), &opts).unwrap();
        assert!(with.alpha);
        let decoded = webp::Decoder::new(&with.webp).decode().unwrap();
        assert!(decoded.is_alpha());
        let opaque = encode(&png_bytes(&gradient(64, 48, false)), &opts).unwrap();
        assert!(!opaque.alpha);
        assert!(!webp::Decoder::new(&opaque.webp).decode().unwrap().is_alpha());
        assert_eq!((opaque.width, opaque.height, opaque.frames), (64, 48, 1));
    }

    #[test]
    fn refused_before_decoding() {
        let opts = WebpOptions { max_pixels: 1000, ..WebpOptions::default() };
        let e = encode(&png_bytes(&gradient(40, 30, false)), &opts).unwrap_err();
        assert_eq!(e.to_string(), "40×30 is 1200 pixels, above the limit of 1000 (--max-pixels); not decoded");
        assert!(matches!(encode(b"", &opts), Err(ImageProblem::Empty)));
        let e = encode(b"hello, this is text\n", &opts).unwrap_err();
        assert_eq!(e.to_string(), "not a JPEG, PNG or GIF image (it starts with \"hello, this …\")");
    }

    #[test]
    fn a_gif_frame_larger_than_its_screen_is_refused_before_decoding() {
        // A 4×4 screen holding one 20000×20000 frame (with almost no pixel data).
        let mut g = b"GIF89a\x04\x00\x04\x00\x00\x00\x00".to_vec();
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0x20, 0x4E, 0x20, 0x4E, 0, 2, 2, 0x44, 0x01, 0, 0x3B]);
        let e = encode(&g, &WebpOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "20000×20000 is 400000000 pixels, above the limit of 100000000 (--max-pixels); not decoded");
    }

    #[test]
    fn lossless_roundtrips_exactly() {
        let img = gradient(33, 17, true);
        let opts = WebpOptions { lossless: true, ..WebpOptions::default() };
        let enc = encode(&png_bytes(&img), &opts).unwrap();
        let back = webp::Decoder::new(&enc.webp).decode().unwrap();
        assert!(back.is_alpha());
        // Fully transparent pixels may change colour (invisible); every other one is exact.
        for (a, b) in img.to_rgba8().pixels().zip(back.chunks_exact(4)) {
            if a[3] != 0 {
                assert_eq!(&a.0[..], b);
            }
        }
    }
}
