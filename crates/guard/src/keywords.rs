//! The literal-keyword prefilter shared by DLP and the prompt-injection detector: which rules
//! have one of their keywords (ASCII case ignored) in a string, for every string of an answer
//! in one search.
//!
//! The strings of an answer are ASCII-lowercased into one buffer ([`Strings`]), each ended by a
//! NUL byte, and one case-sensitive leftmost-longest Aho-Corasick search of the lowercased
//! keywords runs over it. Being case-sensitive lets the automaton use its vectorised packed
//! prefilter (Teddy), which an ASCII-case-insensitive automaton cannot, and one search over the
//! whole answer pays the search's fixed cost once instead of once per string. Keywords of one
//! or two bytes (`@`, `q~`, `<|`) would make the prefilter give up, so they are found with
//! `memchr` on their last byte instead.

use std::cell::Cell;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use serde_json::Value;

use crate::error::DetectorError;

/// Keywords shorter than this are found with `memchr` rather than the automaton.
const SHORT_KEYWORD: usize = 3;

/// Keywords per automaton: the vectorised packed prefilter (Teddy) takes fewer than 128
/// patterns and slows down with many, so a long list is searched as several short ones (a
/// few passes with the prefilter cost less than one without it).
const PER_AUTOMATON: usize = 100;

/// Lowercased keywords, each with a bit per rule it triggers (at most 64 rules).
pub(crate) struct Keywords {
    /// Leftmost-longest searches over the keywords of [`SHORT_KEYWORD`] bytes or more, at most
    /// [`PER_AUTOMATON`] keywords each, and for each pattern of each, the bits of its rules and
    /// of every keyword inside it.
    automata: Vec<(AhoCorasick, Vec<u64>)>,
    /// The short keywords, lowercased, each with its rule bits.
    short: Vec<(Vec<u8>, u64)>,
    /// Every rule bit: what a string gets if the search fails.
    all: u64,
}

impl Keywords {
    /// Compiles `(keyword, rule bits)` pairs; keywords are lowercased and deduplicated.
    pub(crate) fn new<'a>(
        words: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Result<Self, DetectorError> {
        let mut long: Vec<String> = Vec::new();
        let mut long_bits: Vec<u64> = Vec::new();
        let mut short: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut all = 0;
        for (word, bits) in words {
            all |= bits;
            let word = word.to_ascii_lowercase();
            if word.is_empty() {
                return Err(DetectorError::new("keywords", "a keyword is empty"));
            }
            if word.len() < SHORT_KEYWORD {
                match short
                    .iter_mut()
                    .find(|(known, _)| *known == word.as_bytes())
                {
                    Some((_, known)) => *known |= bits,
                    None => short.push((word.into_bytes(), bits)),
                }
            } else {
                match long.iter().position(|known| *known == word) {
                    Some(at) => {
                        if let Some(known) = long_bits.get_mut(at) {
                            *known |= bits;
                        }
                    }
                    None => {
                        long.push(word);
                        long_bits.push(bits);
                    }
                }
            }
        }
        // A leftmost-longest match stands for every keyword inside it as well (`sk-ant-` also
        // triggers the rule of `sk-`); see `masks` for why that finds every keyword present. A
        // short keyword inside a long one is found on its own.
        let mut automata = Vec::new();
        for chunk in long.chunks(PER_AUTOMATON) {
            let pattern_rules = chunk
                .iter()
                .map(|outer| {
                    long.iter()
                        .zip(&long_bits)
                        .filter(|(inner, _)| outer.contains(inner.as_str()))
                        .fold(0, |acc, (_, bits)| acc | bits)
                })
                .collect();
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(chunk)
                .map_err(|e| DetectorError::new("keywords", e))?;
            automata.push((automaton, pattern_rules));
        }
        Ok(Self {
            automata,
            short,
            all,
        })
    }

    /// The bits of the rules whose keywords occur in `text`.
    pub(crate) fn mask(&self, text: &str) -> u64 {
        let mut strings = Strings::with_capacity(text.len(), 1);
        strings.push(text);
        strings.lowercase();
        let mut masks = Vec::with_capacity(1);
        self.masks(&strings, &mut masks);
        masks.first().copied().unwrap_or(self.all)
    }

    /// For each string of `strings`, the bits of the rules whose keywords occur in it.
    ///
    /// Each search returns the leftmost keyword occurrence, the longest there, and the next
    /// search starts one byte after its start. Every occurrence of a keyword is then either
    /// found or lies inside a found one: a search from at or before its start returns a match
    /// starting no later than it; one starting earlier moves the next search on by a byte but
    /// not past it, and one starting at the same place is at least as long, so contains it.
    /// No keyword holds the NUL byte that ends each string, so no match spans two strings.
    pub(crate) fn masks(&self, strings: &Strings, masks: &mut Vec<u64>) {
        masks.clear();
        masks.resize(strings.starts.len(), 0);
        let text = strings.lower.as_slice();
        // The string holding byte `at`: matches come in order, so a cursor moving forward.
        let mark = |masks: &mut Vec<u64>, string: &mut usize, at: usize, bits: u64| {
            while strings
                .starts
                .get(*string + 1)
                .is_some_and(|next| *next <= at)
            {
                *string += 1;
            }
            if let Some(mask) = masks.get_mut(*string) {
                *mask |= bits;
            }
        };
        for (automaton, pattern_rules) in &self.automata {
            let mut string = 0;
            let mut at = 0;
            while at < text.len() {
                match automaton.try_find(Input::new(text).span(at..text.len())) {
                    Ok(Some(found)) => {
                        let bits = pattern_rules
                            .get(found.pattern().as_usize())
                            .copied()
                            .unwrap_or(self.all);
                        mark(masks, &mut string, found.start(), bits);
                        at = found.start() + 1;
                    }
                    Ok(None) => break,
                    // Not expected with this configuration: every rule for every string (the
                    // regexes still decide) rather than none.
                    Err(_) => {
                        masks.fill(self.all);
                        return;
                    }
                }
            }
        }
        for (word, bits) in &self.short {
            let Some((last, head)) = word.split_last() else {
                continue;
            };
            let mut string = 0;
            for end in memchr::memchr_iter(*last, text) {
                if text.get(..end).is_some_and(|before| before.ends_with(head)) {
                    mark(masks, &mut string, end, *bits);
                }
            }
        }
    }
}

/// The strings of one answer, ASCII-lowercased into one buffer, each followed by a NUL byte.
pub(crate) struct Strings {
    lower: Vec<u8>,
    /// Where each string starts in `lower`.
    starts: Vec<usize>,
}

impl Strings {
    fn with_capacity(bytes: usize, strings: usize) -> Self {
        Self {
            lower: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(strings),
        }
    }

    /// Every string in `value`, depth first, arrays in order and objects in their iteration
    /// order: the order in which the DLP and response scans visit them.
    ///
    /// The buffers are the thread's spare ones when it has them (see the `Drop` impl), so a
    /// busy thread does not grow fresh buffers to the size of an answer for every answer.
    pub(crate) fn of(value: &Value) -> Self {
        let mut strings = match SPARE.try_with(Cell::take).ok().flatten() {
            Some((lower, starts)) => Self { lower, starts },
            None => Self::with_capacity(2048, 64),
        };
        strings.collect(value);
        strings.lowercase();
        strings
    }

    /// Appends `text` and its NUL, as written: [`Strings::lowercase`] then lowercases the
    /// whole buffer in one pass, which runs vectorised over its length where a pass per string
    /// would mostly run the scalar tail loop (an answer's strings are short).
    fn push(&mut self, text: &str) {
        self.starts.push(self.lower.len());
        self.lower.extend_from_slice(text.as_bytes());
        self.lower.push(0);
    }

    /// ASCII-lowercases the buffer (the NUL separators stay).
    fn lowercase(&mut self) {
        // Branch-free, so that it vectorises: 0x20 added to `A`..=`Z` only.
        for byte in &mut self.lower {
            *byte |= u8::from(byte.wrapping_sub(b'A') < 26) << 5;
        }
    }

    fn collect(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.push(text),
            Value::Array(items) => items.iter().for_each(|item| self.collect(item)),
            Value::Object(map) => map.values().for_each(|item| self.collect(item)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

thread_local! {
    /// The emptied buffers of a finished [`Strings`], kept for the thread's next answer.
    static SPARE: Cell<Option<(Vec<u8>, Vec<usize>)>> = const { Cell::new(None) };
}

/// Largest buffer kept for reuse: one huge answer must not pin its size in every thread.
const MAX_SPARE_BYTES: usize = 256 * 1024;

impl Drop for Strings {
    fn drop(&mut self) {
        if self.lower.capacity() == 0 || self.lower.capacity() > MAX_SPARE_BYTES {
            return;
        }
        // Emptied first: nothing of one answer's text outlives it.
        self.lower.clear();
        self.starts.clear();
        let kept = (
            std::mem::take(&mut self.lower),
            std::mem::take(&mut self.starts),
        );
        // During the thread's exit the slot may be gone; the buffers are then just freed.
        let _ = SPARE.try_with(|spare| spare.set(Some(kept)));
    }
}

/// Hands out the masks of [`Keywords::masks`] one string at a time, in visiting order.
pub(crate) struct MaskCursor {
    masks: Vec<u64>,
    next: usize,
    /// What a string gets when `masks` has no entry for it.
    all: u64,
}

impl MaskCursor {
    /// The masks of every string of `value`; a string past the last gets every rule.
    pub(crate) fn of(keywords: &Keywords, value: &Value) -> Self {
        let mut masks = Vec::new();
        keywords.masks(&Strings::of(value), &mut masks);
        Self {
            masks,
            next: 0,
            all: keywords.all,
        }
    }

    /// No search: every string gets `bits`.
    pub(crate) fn constant(bits: u64) -> Self {
        Self {
            masks: Vec::new(),
            next: 0,
            all: bits,
        }
    }

    /// The mask of the next string. Every rule if the visit order ever differed from the
    /// collecting one (the regexes still decide).
    pub(crate) fn next_mask(&mut self) -> u64 {
        let bits = self.masks.get(self.next).copied().unwrap_or(self.all);
        self.next += 1;
        bits
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
    use serde_json::{Value, json};

    use super::{Keywords, MaskCursor, Strings};

    /// Every keyword of both detectors, with a bit per rule (DLP bits first, prompt bits from
    /// 48).
    fn all_words() -> Vec<(&'static str, u64)> {
        let mut words = Vec::new();
        for (index, rule) in crate::dlp::RULES.iter().enumerate() {
            words.extend(rule.1.iter().map(|w| (*w, 1u64 << index)));
        }
        for (index, rule) in crate::prompt::RULES.iter().enumerate() {
            words.extend(rule.2.iter().map(|w| (*w, 1u64 << (48 + index))));
        }
        words
    }

    /// The plain search: every occurrence of every keyword, ASCII case ignored, overlaps
    /// included.
    fn plain(words: &[(&str, u64)]) -> impl Fn(&str) -> u64 {
        let automaton: AhoCorasick = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(words.iter().map(|(w, _)| *w))
            .unwrap();
        let bits: Vec<u64> = words.iter().map(|(_, b)| *b).collect();
        move |text| {
            automaton
                .find_overlapping_iter(text)
                .fold(0, |acc, m| acc | bits[m.pattern().as_usize()])
        }
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n as u64).unwrap()
        }
    }

    /// Keywords, their pieces, case variants, look-alikes and separators.
    fn pieces(words: &[(&'static str, u64)]) -> Vec<String> {
        let mut pieces: Vec<String> = words.iter().map(|(w, _)| (*w).to_owned()).collect();
        pieces.extend(words.iter().map(|(w, _)| w.to_ascii_uppercase()));
        for (word, _) in words {
            if word.len() > 2 {
                let mut middle = word.len() / 2;
                while !word.is_char_boundary(middle) {
                    middle += 1;
                }
                pieces.push(word[..middle].to_owned());
                pieces.push(word[middle..].to_owned());
            }
        }
        for extra in [
            "a",
            "k",
            "s",
            "e",
            "y",
            "|",
            "<",
            "~",
            "q",
            "Q",
            "@",
            "-",
            "_",
            " ",
            "\0",
            "é",
            "\u{0130}",
            "\u{212a}",
            "ſ",
            "secretoken",
            "asiaiza",
            "<<|",
            "q~~",
            "ignorE",
        ] {
            pieces.push(extra.to_owned());
        }
        pieces
    }

    #[test]
    fn one_string_finds_what_an_overlapping_search_finds() {
        let words = all_words();
        let keywords = Keywords::new(words.iter().copied()).unwrap();
        let plain = plain(&words);
        let pieces = pieces(&words);
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..100_000 {
            let text: String = (0..1 + rng.below(10))
                .map(|_| pieces[rng.below(pieces.len())].as_str())
                .collect();
            assert_eq!(keywords.mask(&text), plain(&text), "{text:?}");
        }
    }

    #[test]
    fn one_search_per_answer_gives_each_string_its_own_mask() {
        let words = all_words();
        let keywords = Keywords::new(words.iter().copied()).unwrap();
        let plain = plain(&words);
        let pieces = pieces(&words);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut triggered = 0;
        for _ in 0..5_000 {
            let strings: Vec<String> = (0..1 + rng.below(12))
                .map(|_| {
                    (0..rng.below(6))
                        .map(|_| pieces[rng.below(pieces.len())].as_str())
                        .collect()
                })
                .collect();
            // Nested the way answers are: an object holding arrays and lone strings, with
            // numbers and nulls between them.
            let mut map = serde_json::Map::new();
            for (index, chunk) in strings.chunks(1 + index_width(&strings)).enumerate() {
                let mut items: Vec<Value> = chunk.iter().cloned().map(Value::String).collect();
                items.push(json!(index));
                map.insert(format!("k{index}"), Value::Array(items));
                map.insert(format!("n{index}"), Value::Null);
            }
            let answer = Value::Object(map);
            let mut cursor = MaskCursor::of(&keywords, &answer);
            for text in &strings {
                let expected = plain(text);
                triggered += usize::from(expected != 0);
                assert_eq!(cursor.next_mask(), expected, "{text:?} in {strings:?}");
            }
            // Past the last string: every rule.
            assert_eq!(cursor.next_mask(), keywords.all);
        }
        assert!(
            triggered > 10_000,
            "only {triggered} strings with a keyword"
        );
    }

    fn index_width(strings: &[String]) -> usize {
        strings.len() % 3
    }

    #[test]
    fn lowercasing_touches_only_ascii_capitals() {
        let mut strings = Strings::with_capacity(0, 0);
        let text = "AZaz@[`{\u{0130}\u{212a}ÉQ~";
        strings.push(text);
        strings.lowercase();
        let expected: Vec<u8> = text
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .chain([0])
            .collect();
        assert_eq!(strings.lower, expected);
    }
}
