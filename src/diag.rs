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
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        (line, source[self.starts[line - 1]..offset].chars().count() + 1)
    }

    pub fn problem(&self, source: &str, offset: usize, message: impl Into<String>) -> Problem {
        let (line, col) = self.at(source, offset);
        Problem { line, col, message: message.into() }
    }
}

/// A lightningcss error (0-based line, 1-based column) as a Problem.
pub fn from_lightningcss<T: Display>(e: lightningcss::error::Error<T>) -> Problem {
    let (line, col) = e.loc.as_ref().map(|l| (l.line as usize + 1, l.column as usize)).unwrap_or((1, 1));
    Problem { line, col, message: e.kind.to_string() }
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
}
