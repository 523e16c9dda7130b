//! Stream specifiers (`v`, `a:1`, `3`, `V`, `m:language:eng`, `p:1:v`, `#0x101`) parsed and
//! matched the way libavformat's `avformat_match_stream_specifier` does.

use crate::probe::MediaKind;
use std::collections::BTreeMap;

/// What a specifier is matched against: one stream of a file (or of an output being built).
#[derive(Debug, Clone, Default)]
pub struct StreamView {
    pub kind: Option<MediaKind>,
    pub attached_pic: bool,
    pub tags: BTreeMap<String, String>,
    pub id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `v`, `a`, `s`, `d`, `t`, or `V` (video that is not an attached picture).
    Kind(char),
    Meta(String, Option<String>),
    Id(i64),
    /// `u`: usable streams; treated as matching everything we can reason about.
    Usable,
}

/// A parsed specifier: a chain of conditions and an optional trailing index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    parts: Vec<Part>,
    index: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported stream specifier '{0}'")]
pub struct SpecError(pub String);

impl Spec {
    pub fn parse(s: &str) -> Result<Spec, SpecError> {
        let err = || SpecError(s.to_string());
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            if rest.is_empty() {
                return Ok(Spec { parts, index: None });
            }
            let c = rest.as_bytes()[0];
            if c.is_ascii_digit() {
                let index = rest.parse().map_err(|_| err())?;
                return Ok(Spec {
                    parts,
                    index: Some(index),
                });
            }
            let (head, tail) = match rest.split_once(':') {
                Some((h, t)) => (h, Some(t)),
                None => (rest, None),
            };
            match head {
                "v" | "a" | "s" | "d" | "t" | "V" => {
                    parts.push(Part::Kind(head.chars().next().unwrap()));
                    rest = tail.unwrap_or("");
                }
                "u" => {
                    parts.push(Part::Usable);
                    rest = tail.unwrap_or("");
                }
                "m" => {
                    let t = tail.ok_or_else(err)?;
                    let (k, v) = match t.split_once(':') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (t.to_string(), None),
                    };
                    parts.push(Part::Meta(k, v));
                    return Ok(Spec { parts, index: None });
                }
                "i" => {
                    let t = tail.ok_or_else(err)?;
                    parts.push(Part::Id(parse_id(t).ok_or_else(err)?));
                    return Ok(Spec { parts, index: None });
                }
                h if h.starts_with('#') => {
                    parts.push(Part::Id(parse_id(&h[1..]).ok_or_else(err)?));
                    return Ok(Spec { parts, index: None });
                }
                _ => return Err(err()),
            }
        }
    }

    fn conditions_match(&self, st: &StreamView) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Kind('V') => st.kind == Some(MediaKind::Video) && !st.attached_pic,
            Part::Kind(c) => st.kind.and_then(MediaKind::letter) == Some(*c),
            Part::Meta(k, v) => match (st.tags.get(k), v) {
                (Some(_), None) => true,
                (Some(have), Some(want)) => have == want,
                (None, _) => false,
            },
            Part::Id(id) => st.id == Some(*id),
            Part::Usable => true,
        })
    }

    /// Does stream `i` of `streams` match? A bare number is an absolute index; a trailing index
    /// after conditions counts only the streams meeting them.
    pub fn matches(&self, streams: &[StreamView], i: usize) -> bool {
        match self.index {
            None => self.conditions_match(&streams[i]),
            Some(n) if self.parts.is_empty() => n == i,
            Some(n) => streams
                .iter()
                .enumerate()
                .filter(|(_, s)| self.conditions_match(s))
                .nth(n)
                .is_some_and(|(j, _)| j == i),
        }
    }

    /// Matches every stream: the empty specifier.
    pub fn is_all(&self) -> bool {
        self.parts.is_empty() && self.index.is_none()
    }
}

fn parse_id(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses ffprobe's stream id ("0x1") into a number.
pub fn stream_id(id: Option<&str>) -> Option<i64> {
    id.and_then(parse_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: MediaKind) -> StreamView {
        StreamView {
            kind: Some(kind),
            ..Default::default()
        }
    }

    fn streams() -> Vec<StreamView> {
        let mut a1 = view(MediaKind::Audio);
        a1.tags.insert("language".into(), "eng".into());
        let mut a2 = view(MediaKind::Audio);
        a2.tags.insert("language".into(), "fra".into());
        let mut cover = view(MediaKind::Video);
        cover.attached_pic = true;
        vec![
            view(MediaKind::Video),
            a1,
            a2,
            view(MediaKind::Subtitle),
            cover,
        ]
    }

    fn m(spec: &str) -> Vec<usize> {
        let s = Spec::parse(spec).unwrap();
        let st = streams();
        (0..st.len()).filter(|&i| s.matches(&st, i)).collect()
    }

    #[test]
    fn types_indexes_and_metadata() {
        assert_eq!(m(""), [0, 1, 2, 3, 4]);
        assert_eq!(m("v"), [0, 4]);
        assert_eq!(m("V"), [0]);
        assert_eq!(m("a"), [1, 2]);
        assert_eq!(m("a:1"), [2]);
        assert_eq!(m("2"), [2]);
        assert_eq!(m("v:1"), [4]);
        assert_eq!(m("m:language:fra"), [2]);
        assert_eq!(m("a:m:language"), [1, 2]);
        assert_eq!(m("s:0"), [3]);
        assert_eq!(m("d"), Vec::<usize>::new());
    }

    #[test]
    fn programs_and_garbage_are_unsupported() {
        assert!(Spec::parse("p:1:v").is_err());
        assert!(Spec::parse("x").is_err());
        assert!(Spec::parse("a:1x").is_err());
        assert_eq!(stream_id(Some("0x101")), Some(257));
        assert!(Spec::parse("#0x101").is_ok());
    }
}
