//! The upstream shapes read from a stream a server at a time, so a large catalogue file is never
//! held whole: the peak is one server's text, however large the file.
//!
//! The reader only finds where each value of the document begins and ends (brackets, strings and
//! their escapes); every value is then parsed by `serde_json`, the servers as they come and
//! everything else to check it is valid JSON. Whatever it does not recognise with certainty (a
//! ToolHive document, an unknown shape, a duplicate key, invalid JSON anywhere) makes it give up,
//! and the caller reads the document whole with [`super::parse_document`], which decides (and
//! words the error) exactly as before.

use std::io::{self, BufRead};

use serde::de::IgnoredAny;
use serde_json::Value;

use super::{ParsedDocument, Upstream, parse_upstream_item};

/// Why the stream reader stopped before the end.
enum Stop {
    /// Not an upstream document this reader is sure of; the caller reads it whole.
    GiveUp,
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

type Step<T> = Result<T, Stop>;

/// Reads an upstream document (registry file, bare array or `ServerListResponse`) from `reader`.
/// `Ok(None)` when it is not one of those or is not valid JSON.
///
/// # Errors
/// The reader's own errors.
pub fn parse_upstream_stream<R: BufRead>(reader: R) -> io::Result<Option<ParsedDocument>> {
    let mut scan = Scan { reader, value: Vec::new() };
    let mut read = || -> Step<ParsedDocument> {
        let doc = match scan.peek()? {
            Some(b'[') => scan.items(Upstream::Array)?,
            Some(b'{') => scan.top_object()?,
            _ => return Err(Stop::GiveUp),
        };
        // Nothing but whitespace may follow the document.
        match scan.peek()? {
            None => Ok(doc),
            Some(_) => Err(Stop::GiveUp),
        }
    };
    match read() {
        Ok(doc) => Ok(Some(doc)),
        Err(Stop::GiveUp) => Ok(None),
        Err(Stop::Io(e)) => Err(e),
    }
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

struct Scan<R> {
    reader: R,
    /// The text of the last value read by [`Scan::value`].
    value: Vec<u8>,
}

impl<R: BufRead> Scan<R> {
    /// The next byte that is not whitespace, left unread; `None` at the end.
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            if let Some(at) = chunk.iter().position(|&b| !is_json_space(b)) {
                let byte = chunk[at];
                self.reader.consume(at);
                return Ok(Some(byte));
            }
            let all = chunk.len();
            self.reader.consume(all);
        }
    }

    /// Reads `byte` (after whitespace), or gives up.
    fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek()? != Some(byte) {
            return Err(Stop::GiveUp);
        }
        self.reader.consume(1);
        Ok(())
    }

    /// Reads the next whole value's text into `self.value`. Only its extent is found here; the
    /// caller parses it (so a malformed value is caught there).
    fn value(&mut self) -> Step<()> {
        self.value.clear();
        match self.peek()? {
            None | Some(b',' | b':' | b']' | b'}') => Err(Stop::GiveUp),
            Some(b'{' | b'[' | b'"') => self.nested(),
            Some(_) => self.scalar(),
        }
    }

    /// An object, array or string: up to the bracket or quote that closes it.
    fn nested(&mut self) -> Step<()> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Err(Stop::GiveUp);
            }
            let mut end = None;
            let mut at = 0;
            while at < chunk.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        at += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &chunk[at..]) {
                        None => at = chunk.len(),
                        Some(found) => {
                            at += found;
                            if chunk[at] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if depth == 0 {
                                    end = Some(at + 1);
                                    break;
                                }
                            }
                            at += 1;
                        }
                    }
                    continue;
                }
                match chunk[at] {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1).ok_or(Stop::GiveUp)?;
                        if depth == 0 {
                            end = Some(at + 1);
                            break;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            let taken = end.unwrap_or(chunk.len());
            self.value.extend_from_slice(&chunk[..taken]);
            self.reader.consume(taken);
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// A number, `true`, `false` or `null`: up to the next delimiter or the end.
    fn scalar(&mut self) -> Step<()> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let end = chunk.iter().position(|&b| matches!(b, b',' | b']' | b'}') || is_json_space(b));
            let taken = end.unwrap_or(chunk.len());
            self.value.extend_from_slice(&chunk[..taken]);
            self.reader.consume(taken);
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// Reads a value that is not needed, checking that it is valid JSON.
    fn skip(&mut self) -> Step<()> {
        self.value()?;
        serde_json::from_slice::<IgnoredAny>(&self.value).map_err(|_| Stop::GiveUp)?;
        Ok(())
    }

    /// Reads an object key and its `:`.
    fn key(&mut self) -> Step<String> {
        if self.peek()? != Some(b'"') {
            return Err(Stop::GiveUp);
        }
        self.value()?;
        let key = serde_json::from_slice(&self.value).map_err(|_| Stop::GiveUp)?;
        self.expect(b':')?;
        Ok(key)
    }

    /// Walks an object's members, `member` reading each value; gives up on a key seen twice
    /// among `unique` (as a typed reader of the object would).
    fn members(&mut self, unique: &[&str], mut member: impl FnMut(&mut Self, &str) -> Step<()>) -> Step<()> {
        self.expect(b'{')?;
        if self.peek()? == Some(b'}') {
            self.reader.consume(1);
            return Ok(());
        }
        let mut seen = vec![false; unique.len()];
        loop {
            let key = self.key()?;
            if let Some(i) = unique.iter().position(|u| *u == key)
                && std::mem::replace(&mut seen[i], true)
            {
                return Err(Stop::GiveUp);
            }
            member(self, &key)?;
            match self.peek()? {
                Some(b',') => self.reader.consume(1),
                Some(b'}') => {
                    self.reader.consume(1);
                    return Ok(());
                }
                _ => return Err(Stop::GiveUp),
            }
        }
    }

    /// `{"data": {"servers": […]}}` or `{"servers": […], …}`; the first wins when both are there.
    fn top_object(&mut self) -> Step<ParsedDocument> {
        let (mut registry_file, mut list_response) = (None, None);
        self.members(&["data", "servers"], |scan, key| match key {
            "data" => match scan.peek()? {
                Some(b'{') => scan.members(&["servers"], |scan, key| {
                    if key == "servers" && scan.peek()? == Some(b'[') {
                        registry_file = Some(scan.items(Upstream::RegistryFile)?);
                        Ok(())
                    } else {
                        scan.skip()
                    }
                }),
                Some(b'n') => {
                    scan.value()?;
                    if scan.value == b"null" { Ok(()) } else { Err(Stop::GiveUp) }
                }
                _ => Err(Stop::GiveUp),
            },
            "servers" if scan.peek()? == Some(b'[') => {
                list_response = Some(scan.items(Upstream::ListResponse)?);
                Ok(())
            }
            _ => scan.skip(),
        })?;
        registry_file.or(list_response).ok_or(Stop::GiveUp)
    }

    /// A list of servers, each parsed as soon as it is read.
    fn items(&mut self, kind: Upstream) -> Step<ParsedDocument> {
        self.expect(b'[')?;
        let mut doc = ParsedDocument::default();
        if self.peek()? == Some(b']') {
            self.reader.consume(1);
            return Ok(doc);
        }
        for i in 0.. {
            self.value()?;
            let item: Value = serde_json::from_slice(&self.value).map_err(|_| Stop::GiveUp)?;
            doc.push(kind.location(i), parse_upstream_item(item, kind));
            match self.peek()? {
                Some(b',') => self.reader.consume(1),
                Some(b']') => {
                    self.reader.consume(1);
                    break;
                }
                _ => return Err(Stop::GiveUp),
            }
        }
        Ok(doc)
    }
}
