//! Deterministic pseudo-random numbers (SplitMix64) for the benchmarks'
//! workloads: the same seed gives the same corpus on every run.

// Each benchmark uses a subset of these.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    /// The generator of record `index`: records can be generated in any
    /// order, in parallel, and come out the same.
    pub fn for_record(index: u64) -> Rng {
        let mut rng = Rng(index.wrapping_mul(0xD134_2543_DE82_EF95) ^ 0x10C5_0000_0000_0000);
        rng.next_u64();
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Random bytes that are never all zero (an invalid OTLP id).
    pub fn id<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        if out.iter().all(|b| *b == 0) {
            out[0] = 1;
        }
        out
    }
}
