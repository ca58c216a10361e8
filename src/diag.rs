//! Where a problem is in a source: 1-based line and column, computed one way for every action.

use std::fmt::Display;

/// A problem inside one source: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Line starts of a source. `\r\n`, `\r`, `\f` and `\n` each end a line, as CSS (css-syntax §3.3)
/// and HTML count them.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        let bytes = source.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 1;
                }
                b'\r' | b'\x0c' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }

    /// Byte offset where the 0-based `line` starts (the end of the source past the last line).
    pub fn line_start(&self, line: usize, source: &str) -> usize {
        self.starts.get(line).copied().unwrap_or(source.len())
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn at(&self, source: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(source.len());
        // Inside a `\r\n` is at its `\r`: the end of the line, not a column past it.
        if offset > 0 && source.as_bytes()[offset - 1] == b'\r' && source.as_bytes().get(offset) == Some(&b'\n') {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        (line, source[self.starts[line - 1]..offset].chars().count() + 1)
    }

    pub fn problem(&self, source: &str, offset: usize, message: impl Into<String>) -> Problem {
        let (line, col) = self.at(source, offset);
        Problem { line, col, message: message.into() }
    }
}

/// A lightningcss error in `source` as a Problem. lightningcss counts lines from 0 and columns
/// from 1 in UTF-16 units; a Problem's column is in characters.
pub fn from_lightningcss<T: Display>(source: &str, e: lightningcss::error::Error<T>) -> Problem {
    let Some(loc) = e.loc.as_ref() else { return Problem { line: 1, col: 1, message: e.kind.to_string() } };
    let lines = LineIndex::new(source);
    let start = lines.line_start(loc.line as usize, source);
    let mut units = 1;
    let mut offset = source.len();
    for (i, c) in source[start..].char_indices() {
        if units >= loc.column as usize || matches!(c, '\n' | '\r' | '\x0c') {
            offset = start + i;
            break;
        }
        units += c.len_utf16();
    }
    lines.problem(source, offset, e.kind.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_in_characters_with_every_newline() {
        let src = "ab\r\ncé\rx\x0cyz\nw";
        let idx = LineIndex::new(src);
        assert_eq!(idx.at(src, 0), (1, 1));
        assert_eq!(idx.at(src, src.find('c').unwrap()), (2, 1));
        assert_eq!(idx.at(src, src.find('x').unwrap()), (3, 1));
        assert_eq!(idx.at(src, src.find('z').unwrap()), (4, 2));
        assert_eq!(idx.at(src, src.find('w').unwrap()), (5, 1));
        assert_eq!(idx.at(src, src.find('\r').unwrap() + 2 + "cé".len()), (2, 3));
    }

    /// Found by the fuzzer (fuzz/regressions/pyproject/): toml put an error between `\r` and
    /// `\n`, which read as a column past the end of the line.
    #[test]
    fn an_offset_inside_crlf_is_the_end_of_its_line() {
        let src = "k=\"\"\r\nk=\"\r\n";
        assert_eq!(LineIndex::new(src).at(src, src.len() - 1), (2, 4));
    }

    /// Found by the fuzzer (fuzz/regressions/css_refs/): lightningcss columns are UTF-16 units,
    /// which put errors after an astral character past the end of the line.
    #[test]
    fn lightningcss_columns_become_characters() {
        let src = "a{}\n\u{1d11e}\"\"''";
        let e = lightningcss::stylesheet::StyleSheet::parse(src, Default::default()).unwrap_err();
        let p = from_lightningcss(src, e);
        assert_eq!(p.line, 2);
        assert!(p.col <= 6, "{p:?}");
    }
}
