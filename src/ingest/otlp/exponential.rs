//! OTLP exponential histograms as classic Prometheus buckets.
//!
//! An exponential histogram point at scale `s` has buckets whose bounds are
//! powers of `base = 2^(2^-s)`: positive bucket `i` holds values in
//! `(base^i, base^(i+1)]`, negative bucket `i` the values in
//! `[-base^(i+1), -base^i)`, and the zero bucket those with
//! `|v| <= zero_threshold`. Each becomes one `le` bucket with its upper
//! bound, so `histogram_quantile` over `_bucket` series answers for them as
//! for explicit-bucket histograms, within the point's own bucket width
//! (about 2.2 % of the value at scale 5, 9 % at scale 3).
//!
//! Only the buckets the point carries are emitted, so the `le` set of a
//! series follows the populated range (and changes when the SDK rescales).
//! That is sound for cumulative points, whose every bucket counts from the
//! stream's start; a delta point would leave the buckets it does not carry
//! without their increment, so delta points are refused.

use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;

/// Scales OpenTelemetry defines (`-10..=20`).
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// At most this many buckets per point (positive and negative together):
/// twice the SDKs' default `max_size` of 160, each a series of its own.
pub const MAX_BUCKETS: usize = 320;

/// Classic buckets of one point: upper bounds, strictly increasing and
/// finite, and the number of values in each bucket (not cumulative). The
/// `+Inf` bucket is not included: it holds no values of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicBuckets {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// The point's buckets as classic ones, or why the point is refused.
pub fn classic_buckets(point: &ExponentialHistogramDataPoint) -> Result<ClassicBuckets, String> {
    if !SCALES.contains(&point.scale) {
        return Err(format!(
            "scale {} is outside -10..20 of the OpenTelemetry data model",
            point.scale
        ));
    }
    let positive = point.positive.as_ref();
    let negative = point.negative.as_ref();
    let buckets = positive.map_or(0, |b| b.bucket_counts.len())
        + negative.map_or(0, |b| b.bucket_counts.len());
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "{buckets} buckets, more than the {MAX_BUCKETS} a point may have"
        ));
    }
    if !(point.zero_threshold >= 0.0 && point.zero_threshold.is_finite()) {
        return Err("zero_threshold must be a finite number >= 0".into());
    }
    let total = positive
        .iter()
        .chain(negative.iter())
        .flat_map(|b| b.bucket_counts.iter())
        .try_fold(point.zero_count, |sum, count| sum.checked_add(*count));
    if total != Some(point.count) {
        return Err("the bucket counts and zero_count do not add up to count".into());
    }
    // log2 of the base: bucket bounds are 2^(index · width).
    let width = 2f64.powi(-point.scale);
    let bound = |index: i64| -> Result<f64, String> {
        let value = (index as f64 * width).exp2();
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err("a bucket bound is outside the range of a double".into())
        }
    };
    let mut pairs: Vec<(f64, u64)> = Vec::with_capacity(buckets + 1);
    if let Some(negative) = negative {
        for (position, count) in negative.bucket_counts.iter().enumerate() {
            let index = i64::from(negative.offset) + position as i64;
            pairs.push((-bound(index)?, *count));
        }
    }
    if point.zero_count > 0 || point.zero_threshold > 0.0 {
        pairs.push((point.zero_threshold, point.zero_count));
    }
    if let Some(positive) = positive {
        for (position, count) in positive.bucket_counts.iter().enumerate() {
            let index = i64::from(positive.offset) + position as i64 + 1;
            pairs.push((bound(index)?, *count));
        }
    }
    // Bounds can meet (a zero threshold on a bucket bound): one bucket each.
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = ClassicBuckets {
        bounds: Vec::with_capacity(pairs.len()),
        counts: Vec::with_capacity(pairs.len()),
    };
    for (upper, count) in pairs {
        match out.bounds.last() {
            Some(last) if *last == upper => {
                if let Some(previous) = out.counts.last_mut() {
                    *previous += count;
                }
            }
            _ => {
                out.bounds.push(upper);
                out.counts.push(count);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

    fn point(scale: i32, offset: i32, counts: &[u64]) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            scale,
            count: counts.iter().sum(),
            positive: Some(Buckets {
                offset,
                bucket_counts: counts.to_vec(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn positive_buckets_end_at_powers_of_the_base() {
        // Scale 0: base 2, bucket i is (2^i, 2^(i+1)].
        let buckets = classic_buckets(&point(0, 0, &[1, 2, 3])).unwrap();
        assert_eq!(buckets.bounds, vec![2.0, 4.0, 8.0]);
        assert_eq!(buckets.counts, vec![1, 2, 3]);
        // Scale 1: base √2; offset -2 starts at (0.5, 2^-0.5].
        let buckets = classic_buckets(&point(1, -2, &[5, 0, 1])).unwrap();
        let expected = [2f64.powf(-0.5), 1.0, 2f64.powf(0.5)];
        for (got, want) in buckets.bounds.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert_eq!(buckets.counts, vec![5, 0, 1]);
        // Negative scale: base 4.
        let buckets = classic_buckets(&point(-1, 1, &[7])).unwrap();
        assert_eq!(buckets.bounds, vec![16.0]);
    }

    #[test]
    fn negative_and_zero_buckets_come_first_in_bound_order() {
        let mut p = point(0, 0, &[1]);
        p.negative = Some(Buckets {
            offset: 0,
            bucket_counts: vec![2, 3],
        });
        p.zero_count = 4;
        p.zero_threshold = 0.001;
        p.count = 10;
        let buckets = classic_buckets(&p).unwrap();
        // Negative bucket 1 is [-4, -2), bucket 0 is [-2, -1); then zero; then (1, 2].
        assert_eq!(buckets.bounds, vec![-2.0, -1.0, 0.001, 2.0]);
        assert_eq!(buckets.counts, vec![3, 2, 4, 1]);
    }

    #[test]
    fn inconsistent_or_out_of_range_points_are_refused() {
        let mut p = point(0, 0, &[1, 2]);
        p.count = 4;
        assert!(classic_buckets(&p).unwrap_err().contains("add up"));
        assert!(classic_buckets(&point(21, 0, &[1]))
            .unwrap_err()
            .contains("scale"));
        assert!(classic_buckets(&point(-10, 2_000_000, &[1]))
            .unwrap_err()
            .contains("range"));
        assert!(classic_buckets(&point(0, 0, &[1; MAX_BUCKETS + 1]))
            .unwrap_err()
            .contains("more than"));
        let mut p = point(0, 0, &[1]);
        p.zero_threshold = f64::NAN;
        assert!(classic_buckets(&p).is_err());
    }

    #[test]
    fn an_empty_point_has_no_buckets() {
        let buckets = classic_buckets(&ExponentialHistogramDataPoint::default()).unwrap();
        assert!(buckets.bounds.is_empty());
    }
}
