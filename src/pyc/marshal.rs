//! Canonical back-references in a marshal stream, so that a module compiled in a long-lived worker
//! gets the same bytes as one compiled in a fresh process.
//!
//! `marshal.dumps` flags an object (FLAG_REF) whenever its reference count is above one, and
//! later copies of the same object become a back-reference to it. The object graph of one
//! module is a function of its source (the compiler merges equal constants and interns names), but
//! reference counts are not: a name the worker happens to hold elsewhere (an earlier module's
//! leftovers, an immortal interned string) is flagged although nothing refers back to it. So the
//! canonical form keeps the flag only on objects that are referred back to, and renumbers the
//! references. It is a rewrite in place: the stream's length and every other byte stay as they are,
//! and Python loads it exactly as before (a flag with no reference only reserves a slot).

/// The marshal layout of a code object, which changed in 3.8 and 3.11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLayout {
    /// 32-bit fields before the first object (argcount … flags).
    ints: usize,
    /// Objects between the flags and co_firstlineno.
    objects: usize,
    /// Objects after co_firstlineno (the line table, and from 3.11 the exception table).
    trailing: usize,
}

impl CodeLayout {
    /// The layout of CPython `major.minor`, for the versions whose marshal.c was read (3.7–3.14).
    /// Another version gets None: its workers compile each module in a fresh fork instead.
    pub fn for_version(version: &str) -> Option<CodeLayout> {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
        let (Some(Some(3)), Some(Some(minor))) = (parts.next(), parts.next()) else { return None };
        match minor {
            7 => Some(CodeLayout { ints: 5, objects: 8, trailing: 1 }),
            8..=10 => Some(CodeLayout { ints: 6, objects: 8, trailing: 1 }),
            11..=14 => Some(CodeLayout { ints: 5, objects: 8, trailing: 2 }),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("marshal data at byte {offset}: {what}")]
pub struct MarshalError {
    pub offset: usize,
    pub what: &'static str,
}

const FLAG_REF: u8 = 0x80;
/// CPython's own limit on nesting (MAX_MARSHAL_STACK_DEPTH).
const MAX_DEPTH: usize = 2000;

/// Rewrites `data` (one marshalled object, version 3 or later) into its canonical form.
pub fn canonicalize(data: &mut [u8], layout: CodeLayout) -> Result<(), MarshalError> {
    let mut walk = Walk { data, layout, pos: 0, flagged: Vec::new(), refs: Vec::new() };
    walk.object(0)?;
    if walk.pos != walk.data.len() {
        return Err(MarshalError { offset: walk.pos, what: "trailing bytes after the object" });
    }
    let Walk { data, flagged, refs, .. } = walk;
    // Flags are numbered in the order they appear, which is the order the reader assigns slots.
    let mut used = vec![false; flagged.len()];
    for &(_, target) in &refs {
        *used.get_mut(target as usize).ok_or(MarshalError { offset: 0, what: "reference to an unknown object" })? = true;
    }
    let mut renumbered = vec![0u32; flagged.len()];
    let mut next = 0u32;
    for (i, &at) in flagged.iter().enumerate() {
        if used[i] {
            renumbered[i] = next;
            next += 1;
        } else {
            data[at] &= !FLAG_REF;
        }
    }
    for (at, target) in refs {
        data[at..at + 4].copy_from_slice(&renumbered[target as usize].to_le_bytes());
    }
    Ok(())
}

struct Walk<'a> {
    data: &'a mut [u8],
    layout: CodeLayout,
    pos: usize,
    /// Offset of each flagged object's type byte, in slot order.
    flagged: Vec<usize>,
    /// (offset of the index, slot it refers to) for each back-reference.
    refs: Vec<(usize, u32)>,
}

impl Walk<'_> {
    fn err(&self, what: &'static str) -> MarshalError {
        MarshalError { offset: self.pos, what }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MarshalError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| self.err("truncated"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, MarshalError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, MarshalError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip_sized(&mut self, n: usize) -> Result<(), MarshalError> {
        self.take(n).map(drop)
    }

    fn objects(&mut self, n: usize, depth: usize) -> Result<(), MarshalError> {
        (0..n).try_for_each(|_| self.object(depth))
    }

    fn object(&mut self, depth: usize) -> Result<(), MarshalError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let at = self.pos;
        let code = self.byte()?;
        if code & FLAG_REF != 0 {
            self.flagged.push(at);
        }
        let d = depth + 1;
        match code & !FLAG_REF {
            b'0' | b'N' | b'F' | b'T' | b'S' | b'.' => {}
            b'i' => self.skip_sized(4)?,
            b'I' | b'g' => self.skip_sized(8)?,
            b'y' => self.skip_sized(16)?,
            b'f' => {
                let n = self.byte()?;
                self.skip_sized(n.into())?;
            }
            b'x' => {
                for _ in 0..2 {
                    let n = self.byte()?;
                    self.skip_sized(n.into())?;
                }
            }
            b'l' => {
                let digits = (self.u32()? as i32).unsigned_abs() as usize;
                self.skip_sized(digits.checked_mul(2).ok_or_else(|| self.err("long too large"))?)?;
            }
            b's' | b't' | b'u' | b'a' | b'A' => {
                let n = self.u32()? as usize;
                self.skip_sized(n)?;
            }
            b'z' | b'Z' => {
                let n = self.byte()?;
                self.skip_sized(n.into())?;
            }
            b'r' => {
                let index_at = self.pos;
                let target = self.u32()?;
                if target as usize >= self.flagged.len() {
                    return Err(MarshalError { offset: index_at, what: "reference to an object not yet seen" });
                }
                self.refs.push((index_at, target));
            }
            b')' => {
                let n = self.byte()?;
                self.objects(n.into(), d)?;
            }
            b'(' | b'[' | b'<' | b'>' => {
                let n = self.u32()? as usize;
                self.objects(n, d)?;
            }
            b'{' => loop {
                if self.data.get(self.pos) == Some(&b'0') {
                    self.pos += 1;
                    break;
                }
                self.objects(2, d)?;
            },
            b':' => self.objects(3, d)?,
            b'c' => {
                let CodeLayout { ints, objects, trailing } = self.layout;
                self.skip_sized(4 * ints)?;
                self.objects(objects, d)?;
                self.skip_sized(4)?;
                self.objects(trailing, d)?;
            }
            _ => return Err(MarshalError { offset: at, what: "unknown type code" }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY311: CodeLayout = CodeLayout { ints: 5, objects: 8, trailing: 2 };

    #[test]
    fn layouts_by_version() {
        assert_eq!(CodeLayout::for_version("3.11.7"), Some(PY311));
        assert_eq!(CodeLayout::for_version("3.14.0"), Some(PY311));
        assert_eq!(CodeLayout::for_version("3.9.18").map(|l| l.ints), Some(6));
        assert_eq!(CodeLayout::for_version("3.7.16").map(|l| l.ints), Some(5));
        assert_eq!(CodeLayout::for_version("3.15.0"), None);
        assert_eq!(CodeLayout::for_version("3.6.15"), None);
        assert_eq!(CodeLayout::for_version("banana"), None);
    }

    #[test]
    fn flags_without_a_reference_are_dropped_and_references_renumbered() {
        // ('a', 'a', 'b', 'b') where 'a' is flagged but never referred to (refcount noise) and
        // 'b' (slot 1) is referred back to: 'b' becomes slot 0.
        let mut data = b"\x29\x04\xfa\x01a\xfa\x01b\xda\x01a\x72\x01\x00\x00\x00".to_vec();
        // The first 'a' is flagged, 'b' is flagged, the second 'a' is flagged too (slot 2).
        canonicalize(&mut data, PY311).unwrap();
        assert_eq!(data, b"\x29\x04\x7a\x01a\xfa\x01b\x5a\x01a\x72\x00\x00\x00\x00".to_vec());
    }

    #[test]
    fn the_same_graph_gives_the_same_bytes_whatever_was_flagged() {
        // One tuple ('x', 'x'-as-reference): flagged tuple or not, the canonical bytes are equal.
        let mut a = b"\xa9\x02\xfa\x01x\x72\x01\x00\x00\x00".to_vec();
        let mut b = b"\x29\x02\xfa\x01x\x72\x00\x00\x00\x00".to_vec();
        canonicalize(&mut a, PY311).unwrap();
        canonicalize(&mut b, PY311).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, b"\x29\x02\xfa\x01x\x72\x00\x00\x00\x00".to_vec());
    }

    #[test]
    fn malformed_streams_are_errors_not_panics() {
        for bad in [&b""[..], b"\xfa\x05ab", b"r\x00\x00\x00\x00", b"(\xff\xff\xff\xff", b"?", b"N\x00", b"{N"] {
            assert!(canonicalize(&mut bad.to_vec(), PY311).is_err(), "{bad:?}");
        }
        let mut deep = [b')', 1].repeat(MAX_DEPTH + 2);
        deep.push(b'N');
        assert_eq!(canonicalize(&mut deep, PY311).unwrap_err().what, "nested too deeply");
    }
}
