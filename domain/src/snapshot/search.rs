//! The search index of a snapshot: for every byte trigram of the rows' search texts (lower-cased
//! name, title and description), the rows that contain it, in row order.
//!
//! `search` is a substring match, and a substring's trigrams are all trigrams of any text that
//! contains it; so the rows holding the needle's rarest trigram are a superset of the answer, in
//! row order. [`TrigramIndex::candidates`] hands them out and the query checks each with the
//! substring match itself, so the answer is exactly a scan's, without reading every row for a
//! rare term. A needle shorter than three bytes, or one whose rarest trigram is common (a scan
//! finds a page of such matches soon), is answered by the scan.
//!
//! Posting lists are delta-encoded LEB128 varints in one buffer (a common trigram costs about a
//! byte per row), built in two passes so that nothing is held twice. The list of a trigram in
//! more than one row in [`SCAN_SHARE`] is never read (a needle whose rarest trigram it is gets a
//! scan), so only its count is kept: the most common trigrams were most of the index.

use rustc_hash::FxHashMap;

/// Where a trigram's rows are in [`TrigramIndex::data`], and how many there are.
#[derive(Debug, Clone, Copy)]
struct Postings {
    start: u32,
    end: u32,
    rows: u32,
}

/// Pass 1 of a build: a trigram's rows, their bytes, and the last row counted.
struct Sizing {
    rows: u32,
    bytes: u32,
    last: u32,
}

/// Pass 2 of a build: where a trigram's next row goes, rows written, and the last one.
struct Writing {
    at: u32,
    written: u32,
    last: u32,
}

/// Rows by byte trigram.
#[derive(Debug, Default)]
pub(super) struct TrigramIndex {
    postings: FxHashMap<u32, Postings>,
    data: Box<[u8]>,
    /// Rows indexed.
    total: usize,
}

/// A scan beats the index when the needle's rarest trigram is in more than one row in this many.
const SCAN_SHARE: usize = 8;

fn trigram(w: &[u8]) -> u32 {
    u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2])
}

/// The trigrams of `text`, as they come (a trigram that appears twice comes twice).
fn trigrams_of(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.as_bytes().windows(3).map(trigram)
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or_default() | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or_default());
}

fn varint_len(mut v: u32) -> u32 {
    let mut n = 1;
    while v >= 0x80 {
        n += 1;
        v >>= 7;
    }
    n
}

impl TrigramIndex {
    /// The index of `texts` (row `i` is `texts[i]`).
    ///
    /// Rows come in order, so a trigram met twice in one row is the one whose last row is this
    /// row: no per-row sort or set is needed to count it once.
    pub(super) fn build<'a>(texts: impl Iterator<Item = &'a str> + Clone) -> Self {
        // Pass 1: how many rows and bytes each trigram's list takes.
        let mut sizes: FxHashMap<u32, Sizing> = FxHashMap::default();
        let mut total = 0;
        for (row, text) in texts.clone().enumerate() {
            total = row + 1;
            let row = u32::try_from(row).unwrap_or(u32::MAX);
            for g in trigrams_of(text) {
                let e = sizes.entry(g).or_insert(Sizing { rows: 0, bytes: 0, last: 0 });
                if e.rows > 0 && e.last == row {
                    continue;
                }
                let delta = if e.rows == 0 { row } else { row - e.last };
                e.rows += 1;
                e.bytes += varint_len(delta);
                e.last = row;
            }
        }
        // Pass 2: every list written in place.
        let mut postings = FxHashMap::with_capacity_and_hasher(sizes.len(), rustc_hash::FxBuildHasher);
        let mut writing = FxHashMap::with_capacity_and_hasher(sizes.len(), rustc_hash::FxBuildHasher);
        let mut offset = 0u32;
        for (&g, s) in &sizes {
            if s.rows as usize * SCAN_SHARE > total {
                postings.insert(g, Postings { start: offset, end: offset, rows: s.rows });
                continue;
            }
            postings.insert(g, Postings { start: offset, end: offset + s.bytes, rows: s.rows });
            writing.insert(g, Writing { at: offset, written: 0, last: 0 });
            offset += s.bytes;
        }
        drop(sizes);
        let mut data = vec![0u8; offset as usize];
        let mut scratch = Vec::with_capacity(5);
        for (row, text) in texts.enumerate() {
            let row = u32::try_from(row).unwrap_or(u32::MAX);
            for g in trigrams_of(text) {
                let Some(w) = writing.get_mut(&g) else { continue };
                if w.written > 0 && w.last == row {
                    continue;
                }
                scratch.clear();
                push_varint(&mut scratch, if w.written == 0 { row } else { row - w.last });
                let at = w.at as usize;
                data[at..at + scratch.len()].copy_from_slice(&scratch);
                w.at += u32::try_from(scratch.len()).unwrap_or_default();
                w.written += 1;
                w.last = row;
            }
        }
        Self { postings, data: data.into_boxed_slice(), total }
    }

    /// The rows that may contain `needle` (lower-cased), ascending; `None` when the needle is
    /// shorter than a trigram or its rarest trigram is in more than one of [`SCAN_SHARE`] rows
    /// (a scan is as quick).
    pub(super) fn candidates(&self, needle: &str) -> Option<Candidates<'_>> {
        let bytes = needle.as_bytes();
        if bytes.len() < 3 {
            return None;
        }
        let mut rarest: Option<Postings> = None;
        for w in bytes.windows(3) {
            let Some(p) = self.postings.get(&trigram(w)) else {
                return Some(Candidates { data: &[], row: 0, first: true });
            };
            if rarest.is_none_or(|r| p.rows < r.rows) {
                rarest = Some(*p);
            }
        }
        let rarest = rarest?;
        if rarest.rows as usize * SCAN_SHARE > self.total {
            return None;
        }
        Some(Candidates { data: &self.data[rarest.start as usize..rarest.end as usize], row: 0, first: true })
    }

    /// Bytes held: posting lists and their table.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.data.len() + self.postings.capacity() * (4 + std::mem::size_of::<Postings>())
    }
}

/// Row indices of one posting list, ascending.
#[derive(Debug)]
pub(super) struct Candidates<'a> {
    data: &'a [u8],
    row: u32,
    first: bool,
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let mut delta = 0u32;
        let mut shift = 0;
        loop {
            let (&b, rest) = self.data.split_first()?;
            self.data = rest;
            delta |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        self.row = if self.first { delta } else { self.row + delta };
        self.first = false;
        Some(self.row as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::TrigramIndex;

    #[test]
    fn candidates_are_every_row_holding_the_rarest_trigram_in_order() {
        let texts = ["weather now\0forecasts", "postgresql access", "file system", "weather v2", "the weathervane"];
        let mut rows: Vec<String> = (0..2000).map(|i| texts[i % texts.len()].to_owned()).collect();
        for i in (0..rows.len()).step_by(37) {
            rows[i] = format!("rare stormy {i}");
        }
        let index = TrigramIndex::build(rows.iter().map(String::as_str));
        let found: Vec<usize> = index.candidates("stormy").unwrap().collect();
        let expected: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].contains("stormy")).collect();
        assert_eq!(found, expected);
        assert_eq!(index.candidates("zzz").unwrap().count(), 0, "an absent trigram: nothing");
        assert!(index.candidates("st").is_none(), "shorter than a trigram: scan");
        assert!(index.candidates("weather").is_none(), "in 3 rows of 5: scan");
        // Lists of trigrams in more than one row in eight are not kept.
        assert!(index.bytes() < rows.len() * 3, "{} bytes", index.bytes());
    }
}
