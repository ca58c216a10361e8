//! libwebp's encoders, called directly through libwebp-sys (built from its bundled source).
//! The `webp` crate's wrappers do not fit: its still encoder always imports pixels as ARGB (cwebp
//! imports lossy input straight to YUV, one pass fewer), and its AnimEncoder ends the stream with
//! timestamp 0 (which libwebp rejects, so the last frame gets the average duration instead of its
//! own) and ignores WebPMuxAssemble's result.

use std::ffi::CStr;

use libwebp_sys as sys;

/// One composited frame: RGBA, canvas-sized, shown for `duration_ms`.
pub struct AnimFrame {
    pub rgba: Vec<u8>,
    pub duration_ms: i32,
}

/// Frees the encoder on every path out.
struct Encoder(*mut sys::WebPAnimEncoder);

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimEncoderNewInternal, deleted once.
        unsafe { sys::WebPAnimEncoderDelete(self.0) }
    }
}

impl Encoder {
    fn error(&self, what: &str) -> String {
        // SAFETY: the encoder is live; the message is a NUL-terminated string it owns.
        let msg = unsafe { sys::WebPAnimEncoderGetError(self.0) };
        if msg.is_null() {
            return what.to_string();
        }
        let msg = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
        if msg.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {msg}")
        }
    }
}

/// A picture that is freed on every path out.
struct Picture(sys::WebPPicture);

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPPictureInit; freeing an unallocated picture is a no-op.
        unsafe { sys::WebPPictureFree(&mut self.0) }
    }
}

/// Why an animation could not be made: a frame could not be had, or libwebp refused.
#[derive(Debug)]
pub enum AnimError<E> {
    Frame(E),
    Encode(String),
}

impl<E> From<&str> for AnimError<E> {
    fn from(s: &str) -> Self {
        AnimError::Encode(s.to_string())
    }
}

impl<E> From<String> for AnimError<E> {
    fn from(s: String) -> Self {
        AnimError::Encode(s)
    }
}

/// Pixel layout of a still image's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Rgb,
    Rgba,
}

/// Collects WebPEncode's output; freed on every path out.
struct Writer(sys::WebPMemoryWriter);

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPMemoryWriterInit; clearing frees its buffer once.
        unsafe { sys::WebPMemoryWriterClear(&mut self.0) }
    }
}

/// Encodes one still image. Lossy input is imported straight to YUV as cwebp does (`use_argb`
/// only where the encoder needs ARGB: lossless and near-lossless).
pub fn encode_still(pixels: &[u8], layout: Layout, width: u32, height: u32, config: &sys::WebPConfig) -> Result<Vec<u8>, String> {
    let w = i32::try_from(width).map_err(|_| "too wide")?;
    let h = i32::try_from(height).map_err(|_| "too tall")?;
    let bpp = if layout == Layout::Rgb { 3 } else { 4 };
    let stride = w.checked_mul(bpp).ok_or("too wide")?;
    if pixels.len() != (width as usize) * (height as usize) * (bpp as usize) {
        return Err(format!("pixel buffer has {} bytes for {width}×{height}", pixels.len()));
    }
    let mut pic = Picture(sys::WebPPicture::new().map_err(|_| "libwebp picture ABI mismatch")?);
    pic.0.use_argb = config.lossless;
    pic.0.width = w;
    pic.0.height = h;
    // SAFETY: pixels holds height rows of `stride` bytes (checked above); the picture copies them.
    let imported = unsafe {
        match layout {
            Layout::Rgb => sys::WebPPictureImportRGB(&mut pic.0, pixels.as_ptr(), stride),
            Layout::Rgba => sys::WebPPictureImportRGBA(&mut pic.0, pixels.as_ptr(), stride),
        }
    };
    if imported == 0 {
        return Err("out of memory importing the pixels".into());
    }
    // SAFETY: the writer is initialised before use and outlives the encode that writes to it.
    let mut writer = Writer(unsafe {
        let mut m = std::mem::MaybeUninit::<sys::WebPMemoryWriter>::uninit();
        sys::WebPMemoryWriterInit(m.as_mut_ptr());
        m.assume_init()
    });
    pic.0.writer = Some(sys::WebPMemoryWrite);
    pic.0.custom_ptr = (&mut writer.0 as *mut sys::WebPMemoryWriter).cast();
    // SAFETY: config and picture are initialised; the picture's writer appends to `writer`.
    if unsafe { sys::WebPEncode(config, &mut pic.0) } == 0 {
        return Err(format!("{:?}", pic.0.error_code));
    }
    if writer.0.mem.is_null() {
        return Err("libwebp wrote nothing".into());
    }
    // SAFETY: mem/size describe the bytes written; copied before the writer frees them.
    Ok(unsafe { std::slice::from_raw_parts(writer.0.mem, writer.0.size) }.to_vec())
}

/// Encodes frames (each `width`×`height` RGBA) into an animated WebP. `loop_count` is WebP's
/// (0 = forever, n = play n times). Frames come from an iterator so that only one decoded frame
/// is held at a time (the encoder keeps its own copies of the few it compares).
pub fn encode<I, E>(width: u32, height: u32, loop_count: u16, config: &sys::WebPConfig, frames: I) -> Result<Vec<u8>, AnimError<E>>
where
    I: IntoIterator<Item = Result<AnimFrame, E>>,
{
    let w = i32::try_from(width).map_err(|_| "too wide")?;
    let h = i32::try_from(height).map_err(|_| "too tall")?;
    let stride = w.checked_mul(4).ok_or("too wide")?;
    let expected = (width as usize) * (height as usize) * 4;
    let abi = sys::WebPGetMuxABIVersion();
    // SAFETY: the options struct is fully written by the init call before it is read.
    let mut options = unsafe {
        let mut o = std::mem::MaybeUninit::<sys::WebPAnimEncoderOptions>::uninit();
        if sys::WebPAnimEncoderOptionsInitInternal(o.as_mut_ptr(), abi) == 0 {
            return Err("libwebp's animation encoder has an incompatible ABI".into());
        }
        o.assume_init()
    };
    options.anim_params.loop_count = i32::from(loop_count);
    // SAFETY: options is initialised; a null result is checked.
    let enc = unsafe { sys::WebPAnimEncoderNewInternal(w, h, &options, abi) };
    if enc.is_null() {
        return Err("cannot create the animation encoder (out of memory or bad size)".into());
    }
    let enc = Encoder(enc);
    let mut timestamp: i32 = 0;
    for frame in frames {
        let frame = frame.map_err(AnimError::Frame)?;
        if frame.rgba.len() != expected {
            return Err(format!("frame has {} bytes, expected {expected}", frame.rgba.len()).into());
        }
        let mut pic = Picture(sys::WebPPicture::new().map_err(|_| "libwebp picture ABI mismatch")?);
        pic.0.use_argb = 1;
        pic.0.width = w;
        pic.0.height = h;
        // SAFETY: rgba holds height rows of `stride` bytes (checked above); the picture copies them.
        if unsafe { sys::WebPPictureImportRGBA(&mut pic.0, frame.rgba.as_ptr(), stride) } == 0 {
            return Err("out of memory importing a frame".into());
        }
        // SAFETY: the encoder copies the picture; config outlives the call.
        if unsafe { sys::WebPAnimEncoderAdd(enc.0, &mut pic.0, timestamp, config) } == 0 {
            return Err(enc.error("adding a frame failed").into());
        }
        timestamp = timestamp.checked_add(frame.duration_ms).ok_or("the animation is too long")?;
    }
    // The final call (no picture) carries the end time, which sets the last frame's duration.
    // SAFETY: a null frame is the documented end-of-stream call.
    if unsafe { sys::WebPAnimEncoderAdd(enc.0, std::ptr::null_mut(), timestamp, std::ptr::null()) } == 0 {
        return Err(enc.error("ending the animation failed").into());
    }
    let mut data = sys::WebPData::default();
    // SAFETY: data is an empty WebPData; on success it owns a libwebp buffer freed below.
    if unsafe { sys::WebPAnimEncoderAssemble(enc.0, &mut data) } == 0 {
        return Err(enc.error("assembling the animation failed").into());
    }
    // SAFETY: bytes/size describe the buffer just assembled; it is copied, then freed once.
    let out = unsafe { std::slice::from_raw_parts(data.bytes, data.size) }.to_vec();
    unsafe { sys::WebPDataClear(&mut data) };
    Ok(out)
}
