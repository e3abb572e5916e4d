//! The duration distribution of span rollups: a base-2 exponential
//! histogram at a fixed scale, plus the 16 fixed buckets of the
//! OpenTelemetry spanmetrics connector.
//!
//! At scale 5 a bucket spans a factor of `2^(1/32)` ≈ 1.0219; a percentile
//! is answered with the geometric middle of the bucket that holds its rank,
//! which is within [`RELATIVE_ERROR`] (≈ 1.09 %) of every value in that
//! bucket, and so of the exact value at that rank. Histograms merge by
//! adding counts, so minute rollups add up to hours and steps exactly.

/// Buckets per power of two: `2^SCALE`.
pub const SCALE: u32 = 5;
/// Worst relative error of a percentile answered from a histogram:
/// `(b - 1) / (b + 1)` for the bucket ratio `b = 2^(2^-SCALE)`, rounded up.
pub const RELATIVE_ERROR: f64 = 0.011;

/// Upper bounds (inclusive, in milliseconds) of the spanmetrics connector's
/// default duration buckets; a 17th bucket counts what is above the last.
pub const FIXED_BOUNDS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];

/// Counts per exponential bucket index, as one array from the lowest index
/// in use: durations of one operation span a few powers of two, so the
/// array is short, and adding to it is an index, not a tree insert.
#[derive(Debug, Clone, Default)]
struct Buckets {
    offset: i32,
    counts: Vec<u64>,
}

impl Buckets {
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += count;
    }

    fn take_one(&mut self, index: i32) {
        if let Some(count) = usize::try_from(index - self.offset)
            .ok()
            .and_then(|at| self.counts.get_mut(at))
        {
            *count = count.saturating_sub(1);
        }
    }

    /// (index, count) of the non-empty buckets, in index order.
    fn iter(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(at, count)| (self.offset + at as i32, *count))
    }
}

impl PartialEq for Buckets {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Buckets {}

/// Durations in nanoseconds, counted per exponential bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Durations of 0 ns (no bucket holds 0).
    zero: u64,
    /// Bucket `i` holds `(b^i, b^(i+1)]` ns.
    buckets: Buckets,
    /// Counts per [`FIXED_BOUNDS_MS`] bucket, the last one open.
    fixed: [u64; 17],
}

/// The bucket of 1 ns, the shortest positive duration.
const MIN_INDEX: i32 = -1;
/// The bucket of `i64::MAX` ns.
const MAX_INDEX: i32 = 63 << SCALE;

fn bucket_ratio() -> f64 {
    2f64.powf(1.0 / f64::from(1u32 << SCALE))
}

/// The exponential bucket of a positive duration.
fn bucket_of(nanos: i64) -> i32 {
    // log_b(x) = log2(x) * 2^SCALE; the bucket is (b^i, b^(i+1)], so an
    // exact power lands in the bucket below it.
    let index = (nanos as f64).log2() * f64::from(1u32 << SCALE);
    (index.ceil() as i32) - 1
}

fn fixed_bucket_of(nanos: i64) -> usize {
    let ms = nanos as f64 / 1e6;
    FIXED_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(FIXED_BOUNDS_MS.len())
}

impl DurationHistogram {
    pub fn record(&mut self, nanos: i64) {
        self.record_n(nanos, 1);
    }

    /// Records `count` durations of `nanos` (negative counts as zero).
    pub fn record_n(&mut self, nanos: i64, count: u64) {
        let nanos = nanos.max(0);
        if nanos == 0 {
            self.zero += count;
        } else {
            self.buckets.add(bucket_of(nanos), count);
        }
        self.fixed[fixed_bucket_of(nanos)] += count;
    }

    /// Takes back one recorded duration (a call moved to another edge).
    /// Does nothing where nothing was recorded.
    pub fn remove(&mut self, nanos: i64) {
        let nanos = nanos.max(0);
        if nanos == 0 {
            self.zero = self.zero.saturating_sub(1);
        } else {
            self.buckets.take_one(bucket_of(nanos));
        }
        let fixed = &mut self.fixed[fixed_bucket_of(nanos)];
        *fixed = fixed.saturating_sub(1);
    }

    pub fn merge(&mut self, other: &DurationHistogram) {
        self.zero += other.zero;
        for (index, count) in other.buckets.iter() {
            self.buckets.add(index, count);
        }
        for (sum, add) in self.fixed.iter_mut().zip(other.fixed) {
            *sum += add;
        }
    }

    /// Adds a histogram encoded by [`DurationHistogram::to_bytes`] without
    /// building it first. `false` when the bytes are not such a histogram
    /// (`self` may then hold part of it).
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> bool {
        let mut reader = bytes;
        let Some(zero) = get_varint(&mut reader) else {
            return false;
        };
        self.zero += zero;
        for slot in &mut self.fixed {
            let Some(count) = get_varint(&mut reader) else {
                return false;
            };
            *slot += count;
        }
        let mut previous: Option<i32> = None;
        while !reader.is_empty() {
            let Some(index) = next_index(&mut reader, previous) else {
                return false;
            };
            let Some(count) = get_varint(&mut reader) else {
                return false;
            };
            self.buckets.add(index, count);
            previous = Some(index);
        }
        true
    }

    pub fn count(&self) -> u64 {
        self.zero + self.buckets.counts.iter().sum::<u64>()
    }

    /// Counts per [`FIXED_BOUNDS_MS`] bucket (not cumulative), the 17th
    /// above the last bound.
    pub fn fixed_counts(&self) -> &[u64; 17] {
        &self.fixed
    }

    /// The duration (ns) at quantile `q` by nearest rank: the value of rank
    /// `ceil(q * n)` in sorted order (rank 1 for `q = 0`), within
    /// [`RELATIVE_ERROR`]. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = self.zero;
        if rank <= seen {
            return Some(0.0);
        }
        let ratio = bucket_ratio();
        for (index, count) in self.buckets.iter() {
            seen += count;
            if rank <= seen {
                // The geometric middle of (b^i, b^(i+1)].
                return Some(ratio.powf(f64::from(index) + 0.5));
            }
        }
        None
    }

    /// A compact encoding: varints of the zero count, the 17 fixed counts,
    /// then (index delta, count) pairs in index order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.buckets.counts.len() * 3);
        put_varint(&mut out, self.zero);
        for count in self.fixed {
            put_varint(&mut out, count);
        }
        let mut previous: Option<i32> = None;
        for (index, count) in self.buckets.iter() {
            let delta = match previous {
                // The first index is zigzag-encoded: it may be negative.
                None => zigzag(index),
                Some(previous) => u64::from(index.abs_diff(previous)),
            };
            put_varint(&mut out, delta);
            put_varint(&mut out, count);
            previous = Some(index);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<DurationHistogram> {
        let mut reader = bytes;
        let mut histogram = DurationHistogram {
            zero: get_varint(&mut reader)?,
            ..DurationHistogram::default()
        };
        for slot in &mut histogram.fixed {
            *slot = get_varint(&mut reader)?;
        }
        let mut previous: Option<i32> = None;
        while !reader.is_empty() {
            let index = next_index(&mut reader, previous)?;
            let count = get_varint(&mut reader)?;
            histogram.buckets.add(index, count);
            previous = Some(index);
        }
        Some(histogram)
    }
}

/// The next bucket index of an encoded histogram. Indexes only grow, and
/// durations below 2^63 ns lie in MIN_INDEX..=MAX_INDEX: anything else is
/// corrupt (and must not size the array).
fn next_index(reader: &mut &[u8], previous: Option<i32>) -> Option<i32> {
    let delta = get_varint(reader)?;
    let index = match previous {
        None => unzigzag(delta)?,
        Some(previous) => previous.checked_add(i32::try_from(delta).ok()?)?,
    };
    if previous.is_some_and(|previous| index <= previous)
        || !(MIN_INDEX..=MAX_INDEX).contains(&index)
    {
        return None;
    }
    Some(index)
}

fn zigzag(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

fn unzigzag(value: u64) -> Option<i32> {
    let value = u32::try_from(value).ok()?;
    Some(((value >> 1) as i32) ^ -((value & 1) as i32))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(reader: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = reader.split_first()?;
        *reader = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[i64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64
    }

    #[test]
    fn the_error_bound_holds_for_the_configured_scale() {
        let ratio = bucket_ratio();
        assert!((ratio - 1.0) / (ratio + 1.0) <= RELATIVE_ERROR);
    }

    #[test]
    fn quantiles_are_within_the_bound_of_the_exact_nearest_rank() {
        // A spread of durations from 1 µs to 20 s, with ties and outliers.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut values: Vec<i64> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let exponent = (state % 1_000) as f64 / 1_000.0 * 7.3 + 3.0;
                10f64.powf(exponent) as i64
            })
            .collect();
        values.extend([0, 0, 1, 1_000_000, 1_000_000, 1_048_576]);
        let mut histogram = DurationHistogram::default();
        for value in &values {
            histogram.record(*value);
        }
        values.sort_unstable();
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&values, q);
            let got = histogram.quantile(q).expect("not empty");
            if want == 0.0 {
                assert_eq!(got, 0.0);
            } else {
                let error = (got - want).abs() / want;
                assert!(error <= RELATIVE_ERROR, "q {q}: {got} vs {want} ({error})");
            }
        }
    }

    #[test]
    fn merging_encoded_bytes_equals_merging_the_histogram() {
        let mut a = DurationHistogram::default();
        let mut b = DurationHistogram::default();
        for nanos in [0, 1_000, 2_500_000, 7_000_000_000] {
            a.record(nanos);
        }
        for nanos in [300, 2_400_000, 90_000_000] {
            b.record(nanos);
        }
        let mut merged = a.clone();
        merged.merge(&b);
        let mut from_bytes = a.clone();
        assert!(from_bytes.merge_encoded(&b.to_bytes()));
        assert_eq!(from_bytes, merged);
        assert!(!a.clone().merge_encoded(&[0xff]));
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut a = DurationHistogram::default();
        let mut b = DurationHistogram::default();
        let mut both = DurationHistogram::default();
        for (index, nanos) in [5_000, 3_000_000, 3_000_000, 0, 16_000_000_000, 700]
            .iter()
            .enumerate()
        {
            if index % 2 == 0 {
                a.record(*nanos);
            } else {
                b.record(*nanos);
            }
            both.record(*nanos);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(a.count(), 6);
        a.record(42_000);
        a.remove(42_000);
        assert_eq!(a, both, "remove takes back a record");
    }

    #[test]
    fn fixed_buckets_are_the_spanmetrics_ones_with_inclusive_bounds() {
        let mut histogram = DurationHistogram::default();
        for ms in [0.5, 2.0, 2.1, 10.0, 15_000.0, 15_000.1] {
            histogram.record((ms * 1e6) as i64);
        }
        let counts = histogram.fixed_counts();
        assert_eq!(counts[0], 2, "0.5 and 2.0 ms are ≤ 2 ms");
        assert_eq!(counts[1], 1);
        assert_eq!(counts[4], 1);
        assert_eq!(counts[15], 1);
        assert_eq!(counts[16], 1);
    }

    #[test]
    fn the_encoding_round_trips_and_rejects_garbage() {
        let mut histogram = DurationHistogram::default();
        for nanos in [0, 1, 2, 999, 1_000_000, 42_000_000_000] {
            histogram.record_n(nanos, 3);
        }
        let bytes = histogram.to_bytes();
        assert_eq!(DurationHistogram::from_bytes(&bytes), Some(histogram));
        assert_eq!(DurationHistogram::from_bytes(&[0xff]), None);
        // A bucket index no duration can have.
        let mut far = bytes[..18].to_vec();
        far.extend([0x80, 0x80, 0x04, 1]);
        assert_eq!(DurationHistogram::from_bytes(&far), None);
        assert_eq!(bucket_of(1), MIN_INDEX);
        assert!(bucket_of(i64::MAX) <= MAX_INDEX);
        assert_eq!(
            DurationHistogram::from_bytes(&bytes[..bytes.len() - 1]),
            None
        );
    }
}
