//! kiln-webp as a real binary, on photographic images the test generates from a fixed seed:
//! the WebP decodes to the same size and alpha at ≥ 35 dB PSNR, the bytes do not depend on runs,
//! paths or thread count, bad inputs fail with nothing written, and --replace records renames
//! only for WebPs smaller than their original.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::{Delay, DynamicImage, Frame, ImageEncoder, ImageFormat, RgbImage, Rgba, RgbaImage};

/// xorshift64*: a fixed-seed generator, so every run sees the same images.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Roughly normal noise (sum of uniforms), standard deviation about `sd`.
    fn noise(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum();
        (s - 2.0) * sd * 1.73
    }
}

/// A "photo": sky-to-ground gradient, a soft sun, rolling hills, smooth texture, sensor noise.
fn photo(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Rng(seed | 1);
    let (sx, sy) = ((rng.next() % w as u64) as f32, (rng.next() % (h as u64 / 2)) as f32);
    let phase = (rng.next() % 628) as f32 / 100.0;
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32 / w as f32, y as f32 / h as f32);
        let horizon = 0.55 + 0.08 * (xf * 9.0 + phase).sin() + 0.04 * (xf * 23.0).cos();
        let mut c = if yf < horizon {
            [90.0 + 120.0 * yf, 140.0 + 90.0 * yf, 235.0 - 60.0 * yf]
        } else {
            let t = (xf * 40.0 + yf * 25.0).sin() * 12.0 + (xf * 7.0 - yf * 13.0).cos() * 10.0;
            [70.0 + 80.0 * yf + t, 110.0 + 40.0 * yf + t * 0.8, 50.0 + 30.0 * yf]
        };
        let d = ((x as f32 - sx).powi(2) + (y as f32 - sy).powi(2)).sqrt() / (w as f32 * 0.12);
        let glow = (1.0 - d).max(0.0) * 120.0;
        for (i, v) in c.iter_mut().enumerate() {
            *v += glow * [1.0, 0.9, 0.5][i] + rng.noise(3.0);
        }
        image::Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// A photo cut out with a soft-edged transparent background (a product shot).
fn cutout(w: u32, h: u32, seed: u64) -> RgbaImage {
    let p = photo(w, h, seed);
    RgbaImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.5);
        let r = (dx * dx + dy * dy).sqrt();
        let a = ((0.42 - r) / 0.06).clamp(0.0, 1.0);
        let [r8, g8, b8] = p.get_pixel(x, y).0;
        Rgba([r8, g8, b8, (a * 255.0).round() as u8])
    })
}

fn jpeg_bytes(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).write_image(img, img.width(), img.height(), image::ExtendedColorType::Rgb8).unwrap();
    out
}

fn png_bytes(img: DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// An EXIF APP1 segment with just an orientation tag, inserted after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec(); // little-endian, IFD at 8, one entry
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0]); // 0x0112 SHORT
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The test tree: photos as JPEG and PNG, a cut-out with alpha, an already-tiny PNG.
fn make_tree(root: &Path) -> Vec<&'static str> {
    write(&root.join("img/hero.jpg"), jpeg_bytes(&photo(320, 200, 1), 92));
    write(&root.join("img/beach.jpg"), jpeg_bytes(&photo(256, 256, 2), 85));
    write(&root.join("img/photos/street.jpeg"), jpeg_bytes(&photo(200, 300, 3), 90));
    write(&root.join("img/banner.png"), png_bytes(DynamicImage::ImageRgb8(photo(300, 120, 4))));
    write(&root.join("img/product.png"), png_bytes(DynamicImage::ImageRgba8(cutout(180, 180, 5))));
    vec!["img/banner.png", "img/beach.jpg", "img/hero.jpg", "img/photos/street.jpeg", "img/product.png"]
}

fn webp_cmd(root: &Path, out: &Path, partial: &Path, inputs: &[PathBuf], extra: &[&str]) -> Output {
    run(Command::new(bin("kiln-webp")).arg("--root").arg(root).arg("-o").arg(out).arg("--partial").arg(partial).args(extra).args(inputs))
}

fn inputs(root: &Path, rels: &[&str]) -> Vec<PathBuf> {
    rels.iter().map(|r| root.join(r)).collect()
}

/// Decoded WebP: width, height, whether it has alpha, RGBA pixels.
fn decode_webp(bytes: &[u8]) -> (u32, u32, bool, Vec<u8>) {
    let img = webp::Decoder::new(bytes).decode().expect("output is not a decodable WebP");
    let rgba = if img.is_alpha() { img.to_vec() } else { img.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect() };
    (img.width(), img.height(), img.is_alpha(), rgba)
}

/// PSNR over R, G, B premultiplied by the original's alpha: the error as composited on a page
/// (libwebp may recolour fully transparent pixels, which nobody sees).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut se, mut n) = (0f64, 0f64);
    for (p, q) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        let alpha = f64::from(p[3]) / 255.0;
        for i in 0..3 {
            se += ((f64::from(p[i]) - f64::from(q[i])) * alpha).powi(2);
            n += 1.0;
        }
    }
    if se == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255f64 * 255.0 / (se / n)).log10()
}

/// The RIFF chunk names of a WebP file (and of the chunks inside ANMF frames' headers).
fn riff_chunks(bytes: &[u8]) -> Vec<String> {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    let mut names = Vec::new();
    let mut i = 12;
    while i + 8 <= bytes.len() {
        names.push(String::from_utf8_lossy(&bytes[i..i + 4]).into_owned());
        let len = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().unwrap()) as usize;
        i += 8 + len + (len & 1);
    }
    names
}

#[test]
fn output_decodes_with_same_size_and_alpha_at_35_db() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let rels = make_tree(&root);
    let out = tmp.path().join("out");
    let partial = tmp.path().join("webp.json");
    let o = webp_cmd(&root, &out, &partial, &inputs(&root, &rels), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut report = Vec::new();
    for rel in &rels {
        let original = image::load_from_memory(&fs::read(root.join(rel)).unwrap()).unwrap();
        let webp_rel = format!("{}.webp", rel.rsplit_once('.').unwrap().0);
        let bytes = fs::read(out.join(&webp_rel)).unwrap();
        let (w, h, alpha, rgba) = decode_webp(&bytes);
        assert_eq!((w, h), (original.width(), original.height()), "{rel}: dimensions changed");
        assert_eq!(alpha, original.color().has_alpha(), "{rel}: alpha {alpha} but the original's is not");
        let orig = original.to_rgba8();
        if alpha {
            // Lossy WebP keeps alpha at full quality: exactly the original's.
            let alphas = |px: &[u8]| px.chunks_exact(4).map(|p| p[3]).collect::<Vec<u8>>();
            assert!(alphas(&rgba) == alphas(orig.as_raw()), "{rel}: alpha channel changed");
        }
        let db = psnr(orig.as_raw(), &rgba);
        report.push(format!("{rel}: {db:.1} dB, {} → {} bytes", fs::metadata(root.join(rel)).unwrap().len(), bytes.len()));
        assert!(db >= 35.0, "{rel}: PSNR {db:.2} dB is below 35 dB at q80");
        // Metadata stripped: only image chunks.
        for c in riff_chunks(&bytes) {
            assert!(["VP8 ", "VP8L", "VP8X", "ALPH"].contains(&c.as_str()), "{rel}: unexpected chunk {c}");
        }
        // Without --replace the original is also there, byte for byte.
        assert_eq!(fs::read(out.join(rel)).unwrap(), fs::read(root.join(rel)).unwrap());
    }
    eprintln!("{}", report.join("\n"));
    // No --replace: references keep pointing at the originals.
    let p: serde_json::Value = serde_json::from_slice(&fs::read(&partial).unwrap()).unwrap();
    assert_eq!(p, serde_json::json!({"version": 1, "assets": {}, "blocks": {}, "lookups": {}}));
}

#[test]
fn dwebp_decodes_the_output_too() {
    if !require("dwebp") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    write(&root.join("a.png"), png_bytes(DynamicImage::ImageRgba8(cutout(90, 70, 9))));
    let out = tmp.path().join("out");
    let o = webp_cmd(&root, &out, &tmp.path().join("p.json"), &[root.join("a.png")], &["--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = tmp.path().join("back.png");
    let d = run(Command::new("dwebp").arg(out.join("a.webp")).arg("-o").arg(&png));
    assert!(d.status.success(), "dwebp refused the output: {}", stderr(&d));
    let back = image::open(&png).unwrap();
    assert_eq!((back.width(), back.height()), (90, 70));
    assert!(back.color().has_alpha());
    let ours = decode_webp(&fs::read(out.join("a.webp")).unwrap()).3;
    assert!(back.to_rgba8().into_raw() == ours, "dwebp and libwebp-through-Rust decode differently");
}

#[test]
fn bytes_do_not_depend_on_runs_paths_or_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a/src");
    let rels = make_tree(&a);
    let b = tmp.path().join("elsewhere/deeper/src");
    copy_tree(&a, &b);
    let runs = [
        (a.clone(), "out1", vec!["--replace", "-j", "1"]),
        (a.clone(), "out2", vec!["--replace", "-j", "2"]),
        (b.clone(), "out3", vec!["--replace"]),
    ];
    let mut trees = Vec::new();
    for (root, name, extra) in &runs {
        let out = tmp.path().join(name).join("o");
        let o = webp_cmd(root, &out, &tmp.path().join(name).join("webp.json"), &inputs(root, &rels), extra);
        assert!(o.status.success(), "{}", stderr(&o));
        trees.push(tmp.path().join(name));
    }
    // Reversed input order, one more run into a fresh directory.
    let out4 = tmp.path().join("out4");
    let mut rev = inputs(&a, &rels);
    rev.reverse();
    let o = webp_cmd(&a, &out4.join("o"), &out4.join("webp.json"), &rev, &["--replace", "-j", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    trees.push(out4);
    for t in &trees[1..] {
        assert_same_tree(&trees[0], t);
    }
    assert_eq!(files_under(&trees[0].join("o")).len(), rels.len());
}

#[test]
fn replace_keeps_only_smaller_webps_and_records_renames() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let mut rels = make_tree(&root);
    // An already-tiny PNG: a 1-bit checkerboard deflates to almost nothing; lossy WebP cannot.
    let rows: Vec<u8> = (0..64).flat_map(|y| std::iter::once(0).chain([if y % 2 == 0 { 0x55 } else { 0xAA }; 8])).collect();
    write(&root.join("img/checker.png"), png(64, 64, 1, 0, &rows));
    rels.push("img/checker.png");
    let before = snapshot(&root);
    let out = tmp.path().join("out");
    let partial = tmp.path().join("webp.json");
    let o = webp_cmd(&root, &out, &partial, &inputs(&root, &rels), &["--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let checker_len = fs::metadata(root.join("img/checker.png")).unwrap().len();
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one note expected:\n{err}");
    assert!(
        err.starts_with(&format!("{}: kept the original: its WebP would be ", root.join("img/checker.png").display()))
            && err.trim_end().ends_with(&format!("bytes, not smaller than its {checker_len}")),
        "{err}"
    );
    assert_eq!(
        files_under(&out),
        ["img/banner.webp", "img/beach.webp", "img/checker.png", "img/hero.webp", "img/photos/street.webp", "img/product.webp"]
    );
    assert_eq!(fs::read(out.join("img/checker.png")).unwrap(), fs::read(root.join("img/checker.png")).unwrap());
    let text = fs::read_to_string(&partial).unwrap();
    assert_eq!(
        text,
        r#"{
  "assets": {},
  "blocks": {},
  "lookups": {},
  "renames": {
    "img/banner.png": "img/banner.webp",
    "img/beach.jpg": "img/beach.webp",
    "img/hero.jpg": "img/hero.webp",
    "img/photos/street.jpeg": "img/photos/street.webp",
    "img/product.png": "img/product.webp"
  },
  "version": 1
}
"#
    );
    // The partial is a manifest kiln-manifest-merge accepts, renames and all.
    let merged = tmp.path().join("manifest.json");
    let m = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&merged).arg(&partial));
    assert!(m.status.success(), "{}", stderr(&m));
    let mv: serde_json::Value = serde_json::from_slice(&fs::read(&merged).unwrap()).unwrap();
    assert_eq!(mv["renames"]["img/hero.jpg"], "img/hero.webp");
    // Every WebP written is smaller than its original; the sources are untouched.
    for rel in rels.iter().filter(|r| !r.ends_with("checker.png")) {
        let w = format!("{}.webp", rel.rsplit_once('.').unwrap().0);
        assert!(fs::metadata(out.join(&w)).unwrap().len() < fs::metadata(root.join(rel)).unwrap().len());
    }
    assert_eq!(snapshot(&root), before);

    // Without --replace the same inputs give every original plus every WebP, and no renames.
    let out2 = tmp.path().join("out2");
    let o = webp_cmd(&root, &out2, &tmp.path().join("p2.json"), &inputs(&root, &rels), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let files = files_under(&out2);
    assert_eq!(files.len(), rels.len() * 2, "{files:?}");
    assert!(files.contains(&"img/checker.webp".to_string()) && files.contains(&"img/checker.png".to_string()));
    assert!(!fs::read_to_string(tmp.path().join("p2.json")).unwrap().contains("renames"));
    // The WebPs themselves are the same bytes either way.
    assert_eq!(fs::read(out.join("img/hero.webp")).unwrap(), fs::read(out2.join("img/hero.webp")).unwrap());
}

#[test]
fn bad_inputs_fail_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let good = jpeg_bytes(&photo(120, 80, 7), 90);
    write(&root.join("good.jpg"), &good);
    write(&root.join("truncated.jpg"), &good[..good.len() * 2 / 3]);
    write(&root.join("text.png"), "this is not a PNG\n");
    write(&root.join("empty.gif"), "");
    write(&root.join("bomb.png"), png_header(30000, 30000));
    let before = snapshot(&root);
    let cases = [
        ("truncated.jpg", "truncated JPEG: the file ends before its end-of-image marker".to_string()),
        ("text.png", "not a JPEG, PNG or GIF image (it starts with \"this is not …\")".to_string()),
        ("empty.gif", "empty file (0 bytes), not an image".to_string()),
        ("bomb.png", "30000×30000 is 900000000 pixels, above the limit of 100000000 (--max-pixels); not decoded".to_string()),
    ];
    let out = tmp.path().join("out");
    let partial = tmp.path().join("webp.json");
    for (rel, message) in &cases {
        for extra in [&[][..], &["--replace"][..]] {
            let o = webp_cmd(&root, &out, &partial, &[root.join("good.jpg"), root.join(rel)], extra);
            assert_eq!(o.status.code(), Some(1), "{rel}: {}", stderr(&o));
            assert_eq!(stderr(&o), format!("{}: {message}\n", root.join(rel).display()));
            assert!(!out.exists() && !partial.exists(), "{rel}: something was written");
        }
    }
    // All at once: every problem listed, in input order; nothing written.
    let all: Vec<PathBuf> = cases.iter().map(|(r, _)| root.join(r)).chain([root.join("good.jpg")]).collect();
    let o = webp_cmd(&root, &out, &partial, &all, &["--replace"]);
    assert_eq!(o.status.code(), Some(1));
    let want: String = cases.iter().map(|(r, m)| format!("{}: {m}\n", root.join(r).display())).collect();
    assert_eq!(stderr(&o), want);
    assert!(!out.exists() && !partial.exists());
    // A lower --max-pixels refuses the good image too, before decoding it.
    let o = webp_cmd(&root, &out, &partial, &[root.join("good.jpg")], &["--max-pixels", "9000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("good.jpg: 120×80 is 9600 pixels, above the limit of 9000"), "{}", stderr(&o));
    // --keep-going writes the good one, lists every failure, and still exits 1.
    let o = webp_cmd(&root, &out, &partial, &all, &["--replace", "--keep-going"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), want);
    assert_eq!(files_under(&out), ["good.webp"]);
    assert!(fs::read_to_string(&partial).unwrap().contains(r#""good.jpg": "good.webp""#));
    assert_eq!(snapshot(&root), before, "an original changed");
}

/// A PNG that claims `w`×`h` (8-bit RGB) with a few bytes of pixel data: a decompression bomb's
/// header. Refusing it must not depend on decoding anything.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    png(w, h, 8, 2, &[0u8; 4096])
}

/// A PNG written by hand: `rows` are the filtered scanlines (each starting with its filter byte).
fn png(w: u32, h: u32, bit_depth: u8, color_type: u8, rows: &[u8]) -> Vec<u8> {
    let mut out = png_start(w, h, bit_depth, color_type);
    png_chunk(&mut out, b"IDAT", &zlib(rows, flate2::Compression::best()));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// The PNG signature and IHDR chunk (no compression, filter or interlace options).
fn png_start(w: u32, h: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    out
}

/// Appends one PNG chunk: length, type, data, CRC of type and data.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn zlib(bytes: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), level);
    std::io::Write::write_all(&mut z, bytes).unwrap();
    z.finish().unwrap()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn exif_orientation_is_applied_and_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    // 80×40, left half red, right half blue; orientation 6 = rotate 90° clockwise to display.
    let img = RgbImage::from_fn(80, 40, |x, _| if x < 40 { image::Rgb([220, 30, 30]) } else { image::Rgb([30, 30, 220]) });
    write(&root.join("phone.jpg"), with_exif_orientation(&jpeg_bytes(&img, 95), 6));
    let out = tmp.path().join("out");
    let o = webp_cmd(&root, &out, &tmp.path().join("p.json"), &[root.join("phone.jpg")], &["--replace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = fs::read(out.join("phone.webp")).unwrap();
    let (w, h, _, rgba) = decode_webp(&bytes);
    assert_eq!((w, h), (40, 80), "EXIF orientation 6 was not applied");
    let px = |x: u32, y: u32| &rgba[((y * w + x) * 4) as usize..][..3];
    assert!(px(20, 10)[0] > 180 && px(20, 10)[2] < 80, "top should be the red (left) half: {:?}", px(20, 10));
    assert!(px(20, 70)[2] > 180 && px(20, 70)[0] < 80, "bottom should be the blue (right) half: {:?}", px(20, 70));
    assert!(!bytes.windows(4).any(|c| c == b"EXIF" || c == b"Exif"), "EXIF was copied into the WebP");
}

/// GIF frames: 48×32, a moving square; delays in 10 ms units.
fn gif_bytes(frames: u32, delays_cs: &[u32], repeat: Option<Repeat>) -> (Vec<u8>, Vec<RgbaImage>) {
    let mut images = Vec::new();
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        if let Some(r) = repeat {
            enc.set_repeat(r).unwrap();
        }
        for i in 0..frames {
            let img = RgbaImage::from_fn(48, 32, |x, y| {
                let inside = x >= i * 8 && x < i * 8 + 12 && (10..22).contains(&y);
                if inside {
                    Rgba([250, 200, 20, 255])
                } else {
                    Rgba([20, 60, 140, 255])
                }
            });
            let d = delays_cs[i as usize % delays_cs.len()];
            enc.encode_frame(Frame::from_parts(img.clone(), 0, 0, Delay::from_numer_denom_ms(d * 10, 1))).unwrap();
            images.push(img);
        }
    }
    (out, images)
}

/// The ANIM chunk's loop count and the frame count of an animated WebP.
fn anim_info(bytes: &[u8]) -> (u16, usize) {
    let mut i = 12;
    let (mut loops, mut frames) = (None, 0);
    while i + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().unwrap()) as usize;
        match &bytes[i..i + 4] {
            b"ANIM" => loops = Some(u16::from_le_bytes([bytes[i + 12], bytes[i + 13]])),
            b"ANMF" => frames += 1,
            _ => {}
        }
        i += 8 + len + (len & 1);
    }
    (loops.expect("no ANIM chunk: not an animated WebP"), frames)
}

#[test]
fn gifs_become_lossless_webp_and_animations_stay_animated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let (anim, frames) = gif_bytes(4, &[5, 7, 0], Some(Repeat::Finite(2)));
    write(&root.join("spinner.gif"), &anim);
    let (forever, _) = gif_bytes(3, &[4], Some(Repeat::Infinite));
    write(&root.join("forever.gif"), &forever);
    let (once, _) = gif_bytes(2, &[4], None);
    write(&root.join("once.gif"), &once);
    let (still, still_frames) = gif_bytes(1, &[0], None);
    write(&root.join("still.gif"), &still);
    let out = tmp.path().join("out");
    let rels = ["forever.gif", "once.gif", "spinner.gif", "still.gif"];
    let o = webp_cmd(&root, &out, &tmp.path().join("p.json"), &inputs(&root, &rels), &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    let spinner = fs::read(out.join("spinner.webp")).unwrap();
    // GIF repeats 2 times after the first play; WebP counts plays.
    assert_eq!(anim_info(&spinner), (3, 4));
    assert_eq!(anim_info(&fs::read(out.join("forever.webp")).unwrap()).0, 0);
    assert_eq!(anim_info(&fs::read(out.join("once.webp")).unwrap()).0, 1, "a GIF without a loop count plays once");
    let decoded = webp::AnimDecoder::new(&spinner).decode().unwrap();
    assert_eq!(decoded.len(), 4);
    let mut ends = Vec::new();
    for (i, f) in decoded.get_frames(0..4).unwrap().iter().enumerate() {
        assert_eq!((f.width(), f.height()), (48, 32));
        assert!(f.get_image() == frames[i].as_raw().as_slice(), "frame {i} is not lossless");
        ends.push(f.get_time_ms());
    }
    // 50, 70, then 0 (shown for 100 ms, as browsers do), then 50: WebP frames end at these times.
    assert_eq!(ends, [50, 120, 220, 270]);

    let still_webp = fs::read(out.join("still.webp")).unwrap();
    assert!(!riff_chunks(&still_webp).contains(&"ANIM".to_string()));
    let (w, h, alpha, rgba) = decode_webp(&still_webp);
    assert_eq!((w, h, alpha), (48, 32, false));
    assert!(rgba == still_frames[0].as_raw().as_slice(), "a still GIF is encoded losslessly");
}

/// An APNG written by hand: every frame full-size, RGBA, `delays_ms` each, `plays` (0 = forever).
fn apng(frames: &[RgbaImage], delay_ms: u16, plays: u32) -> Vec<u8> {
    let (w, h) = frames[0].dimensions();
    let mut out = png_start(w, h, 8, 6);
    let mut actl = (frames.len() as u32).to_be_bytes().to_vec();
    actl.extend_from_slice(&plays.to_be_bytes());
    png_chunk(&mut out, b"acTL", &actl);
    let mut seq = 0u32;
    for (i, f) in frames.iter().enumerate() {
        let mut fctl = seq.to_be_bytes().to_vec();
        seq += 1;
        for v in [w, h, 0, 0] {
            fctl.extend_from_slice(&v.to_be_bytes());
        }
        fctl.extend_from_slice(&delay_ms.to_be_bytes());
        fctl.extend_from_slice(&1000u16.to_be_bytes());
        fctl.extend_from_slice(&[0, 0]); // dispose none, blend source
        png_chunk(&mut out, b"fcTL", &fctl);
        let rows: Vec<u8> = f.rows().flat_map(|r| std::iter::once(0).chain(r.flat_map(|p| p.0))).collect();
        let data = zlib(&rows, flate2::Compression::default());
        if i == 0 {
            png_chunk(&mut out, b"IDAT", &data);
        } else {
            let mut fdat = seq.to_be_bytes().to_vec();
            seq += 1;
            fdat.extend_from_slice(&data);
            png_chunk(&mut out, b"fdAT", &fdat);
        }
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn apng_stays_animated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let frames: Vec<RgbaImage> = (0..3)
        .map(|i| RgbaImage::from_fn(40, 30, |x, y| if x / 10 == i { Rgba([240, 40, 40, 255]) } else { Rgba([30, 90, 200, (y * 8) as u8]) }))
        .collect();
    write(&root.join("a.png"), apng(&frames, 40, 2));
    let out = tmp.path().join("out");
    let o = webp_cmd(&root, &out, &tmp.path().join("p.json"), &[root.join("a.png")], &["--lossless"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = fs::read(out.join("a.webp")).unwrap();
    assert_eq!(anim_info(&bytes), (2, 3), "APNG plays twice; WebP counts plays the same way");
    let decoded = webp::AnimDecoder::new(&bytes).decode().unwrap();
    let got = decoded.get_frames(0..3).unwrap();
    for (i, f) in got.iter().enumerate() {
        let want = frames[i].as_raw();
        let visible_same = f.get_image().chunks_exact(4).zip(want.chunks_exact(4)).all(|(a, b)| b[3] == 0 || a == b);
        assert!(visible_same, "frame {i} differs");
        assert_eq!(f.get_time_ms(), 40 * (i as i32 + 1));
    }
}

#[test]
fn lossless_and_near_lossless() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let img = cutout(96, 64, 11);
    write(&root.join("a.png"), png_bytes(DynamicImage::ImageRgba8(img.clone())));
    let mut sizes = Vec::new();
    for (name, extra) in [("lossless", vec!["--lossless"]), ("near", vec!["--near-lossless", "60"])] {
        let out = tmp.path().join(name);
        let o = webp_cmd(&root, &out, &tmp.path().join(format!("{name}.json")), &[root.join("a.png")], &extra);
        assert!(o.status.success(), "{}", stderr(&o));
        let bytes = fs::read(out.join("a.webp")).unwrap();
        assert!(riff_chunks(&bytes).contains(&"VP8L".to_string()), "{name}: not a lossless bitstream");
        let (_, _, alpha, rgba) = decode_webp(&bytes);
        assert!(alpha);
        let db = psnr(img.as_raw(), &rgba);
        if name == "lossless" {
            assert_eq!(db, f64::INFINITY, "--lossless changed visible pixels");
        } else {
            assert!(db.is_finite() && db > 40.0, "near-lossless 60 gave {db} dB");
        }
        sizes.push(bytes.len());
    }
    assert!(sizes[1] < sizes[0], "near-lossless should be smaller than lossless: {sizes:?}");
}

#[test]
fn names_collisions_params_and_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    write(&root.join("img/a.jpg"), jpeg_bytes(&photo(64, 48, 21), 90));
    write(&root.join("img/a.png"), png_bytes(DynamicImage::ImageRgb8(photo(64, 48, 22))));
    write(&root.join("img/b.png"), png_bytes(DynamicImage::ImageRgb8(photo(64, 48, 23))));
    write(&root.join("notes.txt"), "hello");
    let out = tmp.path().join("out");
    let partial = tmp.path().join("p.json");

    // Two images that would share one .webp: both named, nothing written.
    let o = webp_cmd(&root, &out, &partial, &inputs(&root, &["img/a.jpg", "img/a.png", "notes.txt"]), &["--replace"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "{}: its WebP img/a.webp would also be the WebP of {}\n{}: not an image kiln-webp converts (.jpg, .jpeg, .png or .gif)\n",
            root.join("img/a.png").display(),
            root.join("img/a.jpg").display(),
            root.join("notes.txt").display()
        )
    );
    assert!(!out.exists() && !partial.exists());

    // @params (one argument per line, as Bazel writes them).
    let params = tmp.path().join("args.params");
    fs::write(&params, format!("--replace\n-q\n70\n{}\n{}\n", root.join("img/a.jpg").display(), root.join("img/b.png").display())).unwrap();
    let o = run(Command::new(bin("kiln-webp"))
        .arg("--root")
        .arg(&root)
        .arg("-o")
        .arg(&out)
        .arg("--partial")
        .arg(&partial)
        .arg(format!("@{}", params.display())));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_under(&out), ["img/a.webp", "img/b.webp"]);
    // -q 70 is smaller than the default 80.
    let out80 = tmp.path().join("out80");
    let o = webp_cmd(&root, &out80, &tmp.path().join("p80.json"), &[root.join("img/a.jpg")], &["--replace"]);
    assert!(o.status.success());
    assert!(fs::metadata(out.join("img/a.webp")).unwrap().len() < fs::metadata(out80.join("img/a.webp")).unwrap().len());

    // An input outside --root is bad input; an output directory holding an input, a bad
    // quality or a missing --partial are usage errors.
    let outside = tmp.path().join("elsewhere.jpg");
    fs::copy(root.join("img/a.jpg"), &outside).unwrap();
    let o = webp_cmd(&root, &tmp.path().join("o2"), &tmp.path().join("p2.json"), &[outside], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("escapes the root"), "{}", stderr(&o));
    let o = webp_cmd(&root, &root.join("img"), &tmp.path().join("p3.json"), &[root.join("img/a.jpg")], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("contains the input"), "{}", stderr(&o));
    let o = webp_cmd(&root, &tmp.path().join("o4"), &tmp.path().join("p4.json"), &[root.join("img/a.jpg")], &["-q", "101"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(Command::new(bin("kiln-webp")).arg("-o").arg(tmp.path().join("o5")).arg(root.join("img/a.jpg")));
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("o2").exists() && !tmp.path().join("o4").exists() && !tmp.path().join("o5").exists());
}
