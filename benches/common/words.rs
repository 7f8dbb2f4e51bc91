//! The synthetic corpus the benchmarks share: a fixed, seedable generator, and pseudo-words
//! with Zipf frequencies (so common word sequences recur, as in real news).

#![allow(dead_code)]

/// Distinct pseudo-words.
pub const VOCABULARY: usize = 30_000;

/// SplitMix64: a small, fixed, seedable generator, so the corpus is the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Pseudo-words and their cumulative Zipf weights.
pub struct Words {
    pub words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    pub fn new() -> Words {
        const SYLLABLES: [&str; 24] = [
            "ka", "to", "ri", "an", "el", "mo", "su", "ve", "lin", "dor", "pa", "ne", "qui", "ber",
            "sa", "ul", "tem", "ro", "fi", "gra", "ho", "ex", "ta", "mi",
        ];
        let mut rng = Rng(7);
        let words: Vec<String> = (0..VOCABULARY)
            .map(|i| {
                let n = 1 + i.min(3) + rng.below(2);
                let mut w: String = (0..n)
                    .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                    .collect();
                // Distinct words however the syllables fall: a suffix of letters (digits would
                // read as numbers in titles).
                w.push(char::from(b'a' + (i % 26) as u8));
                w.push(char::from(b'a' + (i / 26 % 26) as u8));
                w
            })
            .collect();
        let mut total = 0.0;
        let cumulative = (1..=VOCABULARY)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Words { words, cumulative }
    }

    pub fn word(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative[VOCABULARY - 1];
        let at = rng.unit() * total;
        let i = self
            .cumulative
            .partition_point(|c| *c < at)
            .min(VOCABULARY - 1);
        &self.words[i]
    }

    pub fn sentence(&self, rng: &mut Rng, n: usize) -> String {
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }

    pub fn paragraph(&self, rng: &mut Rng) -> String {
        let n = 30 + rng.below(30);
        format!("<p>{}.</p>", self.sentence(rng, n))
    }
}
