//! The compressed sample chunk: Gorilla's encoding, as Prometheus's XOR
//! chunks use it. Timestamps are stored as delta-of-deltas in variable-width
//! buckets (a regular series costs one bit per timestamp), values as the XOR
//! with the previous value, reusing the previous run of meaningful bits when
//! it fits (a constant costs one bit, a slowly moving counter a few bytes).
//!
//! Layout: the sample count as a LEB128 varint, then the bit stream (most
//! significant bit first): the first timestamp and value as 64 raw bits
//! each, then per sample the timestamp's delta-of-delta and the value.

use crate::model::metric::Sample;

/// Why bytes are not a chunk this code wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric chunk: {0}")]
pub struct ChunkError(&'static str);

struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = start a new byte).
    used: u8,
}

impl BitWriter {
    fn push_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> self.used;
            }
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes the low `count` bits of `value`, most significant first.
    fn push_bits(&mut self, value: u64, count: u8) {
        for shift in (0..count).rev() {
            self.push_bit((value >> shift) & 1 == 1);
        }
    }
}

/// Reads bits most significant first, a 64-bit word at a time.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next byte to load into `buffer`.
    next: usize,
    /// Bits not yet read, left-aligned.
    buffer: u64,
    /// How many bits of `buffer` are valid.
    available: u32,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader {
            bytes,
            next: 0,
            buffer: 0,
            available: 0,
        }
    }

    /// Tops the buffer up with whole bytes (to at least 57 bits when the
    /// data lasts).
    fn refill(&mut self) {
        while self.available <= 56 {
            let Some(byte) = self.bytes.get(self.next) else {
                return;
            };
            self.buffer |= u64::from(*byte) << (56 - self.available);
            self.available += 8;
            self.next += 1;
        }
    }

    fn bit(&mut self) -> Result<bool, ChunkError> {
        if self.available == 0 {
            self.refill();
            if self.available == 0 {
                return Err(ChunkError("truncated"));
            }
        }
        let bit = self.buffer >> 63 == 1;
        self.buffer <<= 1;
        self.available -= 1;
        Ok(bit)
    }

    /// Reads `count` bits (at most 64).
    fn bits(&mut self, count: u8) -> Result<u64, ChunkError> {
        let count = u32::from(count);
        if count == 0 {
            return Ok(0);
        }
        if count > 56 {
            // Two reads keep every shift below 64.
            let high = self.bits((count - 32) as u8)?;
            let low = self.bits(32)?;
            return Ok((high << 32) | low);
        }
        if self.available < count {
            self.refill();
            if self.available < count {
                return Err(ChunkError("truncated"));
            }
        }
        let value = self.buffer >> (64 - count);
        self.buffer <<= count;
        self.available -= count;
        Ok(value)
    }
}

/// The delta-of-delta buckets: (prefix bits, prefix length, value bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(value: i64, bits: u8) -> bool {
    let limit = 1i64 << (bits - 1);
    // Prometheus's range: -(2^(n-1) - 1) ..= 2^(n-1).
    value > -limit && value <= limit
}

/// Encodes samples (time order, distinct times) into a chunk.
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2 + 20);
    let mut count = samples.len() as u64;
    loop {
        let byte = (count & 0x7f) as u8;
        count >>= 7;
        if count == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    let mut writer = BitWriter {
        bytes: out,
        used: 0,
    };
    let Some(first) = samples.first() else {
        return writer.bytes;
    };
    writer.push_bits(first.t as u64, 64);
    writer.push_bits(first.v.to_bits(), 64);
    let mut previous_t = first.t;
    let mut previous_delta = 0i64;
    let mut previous_bits = first.v.to_bits();
    // The last run of meaningful bits (leading zeros, length); none yet.
    let mut window: Option<(u8, u8)> = None;
    for sample in &samples[1..] {
        let delta = sample.t.wrapping_sub(previous_t);
        let dod = delta.wrapping_sub(previous_delta);
        if dod == 0 {
            writer.push_bit(false);
        } else if let Some((prefix, prefix_len, bits)) = DOD_BUCKETS
            .iter()
            .find(|(_, _, bits)| fits_signed(dod, *bits))
        {
            writer.push_bits(*prefix, *prefix_len);
            writer.push_bits(dod as u64, *bits);
        } else {
            writer.push_bits(0b1111, 4);
            writer.push_bits(dod as u64, 64);
        }
        previous_t = sample.t;
        previous_delta = delta;

        let bits = sample.v.to_bits();
        let xor = bits ^ previous_bits;
        previous_bits = bits;
        if xor == 0 {
            writer.push_bit(false);
            continue;
        }
        writer.push_bit(true);
        // Leading zeros are capped at 31 to fit five bits.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        match window {
            Some((w_leading, w_length))
                if leading >= w_leading && 64 - trailing <= w_leading + w_length =>
            {
                writer.push_bit(false);
                let shift = 64 - w_leading - w_length;
                writer.push_bits(xor >> shift, w_length);
            }
            _ => {
                let length = 64 - leading - trailing;
                writer.push_bit(true);
                writer.push_bits(u64::from(leading), 5);
                // A length of 64 does not fit six bits; it is written as 0.
                writer.push_bits(u64::from(length % 64), 6);
                writer.push_bits(xor >> trailing, length);
                window = Some((leading, length));
            }
        }
    }
    writer.bytes
}

/// The number of samples in a chunk, without decoding it.
pub fn sample_count(data: &[u8]) -> Result<usize, ChunkError> {
    read_count(data).map(|(count, _)| count)
}

fn read_count(data: &[u8]) -> Result<(usize, usize), ChunkError> {
    let mut count = 0u64;
    for (index, byte) in data.iter().enumerate().take(10) {
        count |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return usize::try_from(count)
                .map(|count| (count, index + 1))
                .map_err(|_| ChunkError("sample count too large"));
        }
    }
    Err(ChunkError("bad sample count"))
}

/// Decodes the samples with `start <= t <= end` and appends them to `out`.
pub fn decode_range(
    data: &[u8],
    start: i64,
    end: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let (count, header) = read_count(data)?;
    if count == 0 {
        return Ok(());
    }
    // Room for every sample at once (a sample takes at least two bits, so
    // a corrupt count cannot reserve more than the bytes could hold).
    out.reserve(count.min(data.len() * 4 + 1));
    let mut reader = BitReader::new(&data[header..]);
    let mut t = reader.bits(64)? as i64;
    let mut bits = reader.bits(64)?;
    let mut keep = |t: i64, bits: u64| {
        if t >= start && t <= end {
            out.push(Sample {
                t,
                v: f64::from_bits(bits),
            });
        }
    };
    keep(t, bits);
    let mut delta = 0i64;
    let mut window = (0u8, 0u8);
    for _ in 1..count {
        let dod = if !reader.bit()? {
            0
        } else if !reader.bit()? {
            sign_extend(reader.bits(14)?, 14)
        } else if !reader.bit()? {
            sign_extend(reader.bits(17)?, 17)
        } else if !reader.bit()? {
            sign_extend(reader.bits(20)?, 20)
        } else {
            reader.bits(64)? as i64
        };
        delta = delta.wrapping_add(dod);
        t = t.wrapping_add(delta);
        if reader.bit()? {
            if reader.bit()? {
                let leading = reader.bits(5)? as u8;
                let mut length = reader.bits(6)? as u8;
                if length == 0 {
                    length = 64;
                }
                if u16::from(leading) + u16::from(length) > 64 {
                    return Err(ChunkError("bad value window"));
                }
                window = (leading, length);
            }
            let (leading, length) = window;
            if length == 0 {
                return Err(ChunkError("value reuses a window before one was set"));
            }
            let shift = 64 - leading - length;
            bits ^= reader.bits(length)? << shift;
        }
        if t > end {
            break;
        }
        keep(t, bits);
    }
    Ok(())
}

fn sign_extend(value: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(data: &[u8]) -> Vec<Sample> {
        let mut out = Vec::new();
        decode_range(data, i64::MIN, i64::MAX, &mut out).unwrap();
        out
    }

    #[test]
    fn a_regular_counter_costs_under_two_bytes_a_sample() {
        let samples: Vec<Sample> = (0..240)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000,
                v: (i * 7 + (i % 3)) as f64,
            })
            .collect();
        let data = encode(&samples);
        assert_eq!(decode_all(&data), samples);
        let per_sample = data.len() as f64 / samples.len() as f64;
        assert!(per_sample < 2.0, "{per_sample} bytes per sample");
    }

    #[test]
    fn ranges_and_special_values_survive() {
        let samples = vec![
            Sample { t: -5, v: f64::NAN },
            Sample {
                t: 0,
                v: f64::INFINITY,
            },
            Sample { t: 1, v: -0.0 },
            Sample {
                t: 1_000_000_000,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
            },
            Sample {
                t: 1_000_000_001,
                v: 1e300,
            },
        ];
        let data = encode(&samples);
        let decoded = decode_all(&data);
        assert_eq!(decoded.len(), samples.len());
        for (a, b) in decoded.iter().zip(&samples) {
            assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
        }
        let mut some = Vec::new();
        decode_range(&data, 0, 1, &mut some).unwrap();
        assert_eq!(some.iter().map(|s| s.t).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(sample_count(&data), Ok(5));
        assert!(decode_range(&data[..data.len() - 3], 0, i64::MAX, &mut Vec::new()).is_err());
        assert_eq!(decode_all(&encode(&[])), []);
    }

    proptest! {
        /// Cut or damaged chunks are errors or fewer samples, never a panic.
        #[test]
        fn damaged_chunks_do_not_panic(
            steps in proptest::collection::vec((0i64..100_000, any::<u64>()), 1..100),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut t = 0;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|(step, bits)| {
                    t += step + 1;
                    Sample { t, v: f64::from_bits(*bits) }
                })
                .collect();
            let data = encode(&samples);
            let cut = cut.index(data.len());
            let _ = decode_range(&data[..cut], i64::MIN, i64::MAX, &mut Vec::new());
            let mut flipped = data.clone();
            let at = flip.index(flipped.len());
            flipped[at] ^= 0x5a;
            let _ = decode_range(&flipped, i64::MIN, i64::MAX, &mut Vec::new());
        }

        #[test]
        fn any_samples_round_trip(
            start in any::<i64>(),
            steps in proptest::collection::vec((0i64..1_000_000_000, any::<u64>()), 0..200),
        ) {
            let mut t = start / 2;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|(step, bits)| {
                    t = t.saturating_add(*step + 1);
                    Sample { t, v: f64::from_bits(*bits) }
                })
                .collect();
            let decoded = decode_all(&encode(&samples));
            prop_assert_eq!(decoded.len(), samples.len());
            for (a, b) in decoded.iter().zip(&samples) {
                prop_assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
            }
        }
    }
}
