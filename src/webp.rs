//! kiln-webp: deterministic WebP encoding of JPEG/PNG/GIF images.
