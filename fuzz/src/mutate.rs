//! A small deterministic mutator for the smoke run: the same seed always gives the same inputs,
//! so a failure in CI reproduces anywhere. It flips bits, overwrites and inserts interesting
//! bytes and tokens, deletes and duplicates ranges, and splices two seeds.

/// Tokens that often change how a parser reads its input.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"%",
    b"%25",
    b"%00",
    b".",
    b"..",
    b"/",
    b"@",
    b"#",
    b"?",
    b"0x",
    b"0",
    b"00",
    b"4294967295",
    b"-1",
    b"1e309",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\n",
    b"\r\n",
    b"\t",
    b" ",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"&",
    b"*",
    b"!!",
    b"<<: ",
    b"---\n",
    b"$ref",
    b"::ffff:",
    b"127.0.0.1",
    b"[::1]",
    b"alg",
    b"none",
    b"kid",
    b"crit",
    b"eyJ",
    b"==",
    b"AKIA",
    b"4111111111111111",
];

/// A seeded pseudo-random generator (SplitMix64): small, fast and good enough to mutate with.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % u64::try_from(bound).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// One mutant of `input`: between one and four edits, `other` the splice partner. The result is
/// at most `max_len` bytes.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 => {
                if let Some(byte) = out.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
            1 => {
                let interesting = [0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'%', b'.', b'0', b'9'];
                if let Some(byte) = out.get_mut(at) {
                    *byte = interesting[rng.below(interesting.len())];
                }
            }
            2 | 3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                if at < end {
                    out.drain(at..end);
                }
            }
            5 => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                if let Some(piece) = out.get(at..end).map(<[u8]>::to_vec) {
                    out.splice(at..at, piece);
                }
            }
            6 => {
                let from = rng.below(other.len() + 1);
                let end = (from + rng.below(64)).min(other.len());
                if let Some(piece) = other.get(from..end) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            _ => {
                // Splice: this input's head with the other's tail.
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(other.get(from..).unwrap_or_default());
            }
        }
    }
    out.truncate(max_len);
    out
}
