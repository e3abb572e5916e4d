//! Floating-point helpers with Prometheus's (Go's) exact behaviour, so
//! results agree to the last bits where the algorithm allows: Go's
//! `math.Max`/`math.Min` (NaN wins, unlike Rust's), Neumaier-compensated
//! sums, the two quantile estimators, and Go's number formatting and
//! parsing for labels.

/// Go's `math.Max`: +Inf wins, then NaN, and +0 beats -0.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins, then NaN, and -0 beats +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y {
        x
    } else {
        y
    }
}

/// One step of Prometheus's Kahan–Neumaier sum: returns the new sum and
/// compensation.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's sort order for quantiles and `topk` heaps: NaN first,
/// then ascending (`vectorByValueHeap.Less`).
pub(crate) fn less_nan_first(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

/// The φ-quantile of values (sorted here), interpolating between the two
/// nearest ranks, as the `quantile` aggregation and `quantile_over_time`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| {
        if less_nan_first(*a, *b) {
            std::cmp::Ordering::Less
        } else if less_nan_first(*b, *a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = go_max(0.0, rank.floor());
    let upper = go_min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// One classic histogram bucket: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// Prometheus's `bucketQuantile`: sorts the buckets, requires a +Inf
/// bucket, merges equal bounds, makes counts monotonic, then interpolates
/// linearly inside the bucket holding the rank (from 0 for the first
/// bucket if its bound is positive; the second-highest bound if the rank
/// falls into +Inf).
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce_buckets(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // sort.Search over all but the last bucket: the first with count >= rank.
    let searched = buckets.len() - 1;
    let b = buckets[..searched].partition_point(|bucket| bucket.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

fn coalesce_buckets(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper_bound == bucket.upper_bound => last.count += bucket.count,
            _ => out.push(*bucket),
        }
    }
    *buckets = out;
}

fn ensure_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut max = first.count;
    for bucket in buckets.iter_mut().skip(1) {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that
/// round-trip, never an exponent (Rust's `Display` does the same), with
/// Go's spelling of the special values.
pub(crate) fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms a bucket bound takes:
/// decimal and exponent notation, `Inf`/`+Inf`/`-Inf`/`NaN` in any case.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.as_bytes()[0] {
        b'+' => (1.0, &lower[1..]),
        b'-' => (-1.0, &lower[1..]),
        _ => (1.0, &lower[..]),
    };
    match body {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if body.starts_with("0x") {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// A binary heap driven by a "less" function, with exactly the sift
/// steps of Go's `container/heap`, so `topk`/`bottomk` keep the same
/// elements as Prometheus when values tie.
pub(crate) struct GoHeap<T> {
    pub items: Vec<T>,
}

impl<T> GoHeap<T> {
    pub fn push(&mut self, item: T, less: impl Fn(&T, &T) -> bool) {
        self.items.push(item);
        let n = self.items.len();
        self.up(n - 1, &less);
    }

    pub fn pop(&mut self, less: impl Fn(&T, &T) -> bool) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let n = self.items.len() - 1;
        self.items.swap(0, n);
        self.down(0, n, &less);
        self.items.pop()
    }

    fn up(&mut self, mut j: usize, less: &impl Fn(&T, &T) -> bool) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize, n: usize, less: &impl Fn(&T, &T) -> bool) {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && less(&self.items[j2], &self.items[j1]) {
                j = j2;
            }
            if !less(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_min_and_max_let_nan_win() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let mut values = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut values), 2.5);
        assert_eq!(quantile(0.0, &mut values), 1.0);
        assert_eq!(quantile(2.0, &mut values), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn bucket_quantile_follows_prometheus() {
        let bucket = |upper_bound, count| Bucket { upper_bound, count };
        let mut buckets = vec![
            bucket(f64::INFINITY, 10.0),
            bucket(1.0, 5.0),
            bucket(0.5, 2.0),
        ];
        // rank 5 falls at the top of the le=1 bucket.
        assert_eq!(bucket_quantile(0.5, &mut buckets.clone()), 1.0);
        // rank 1 inside the first bucket, interpolated from 0.
        assert_eq!(bucket_quantile(0.1, &mut buckets.clone()), 0.25);
        // rank 9.9 in +Inf: the second-highest bound.
        assert_eq!(bucket_quantile(0.99, &mut buckets), 1.0);
        let mut no_inf = vec![bucket(1.0, 1.0), bucket(2.0, 2.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
        // Non-monotonic counts are evened out.
        let mut dip = vec![
            bucket(1.0, 4.0),
            bucket(2.0, 3.0),
            bucket(f64::INFINITY, 8.0),
        ];
        assert_eq!(bucket_quantile(0.5, &mut dip), 1.0);
    }

    #[test]
    fn floats_format_and_parse_like_go() {
        assert_eq!(format_go_float(1.5), "1.5");
        assert_eq!(format_go_float(1e21), "1000000000000000000000");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.25"), Some(0.25));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("abc"), None);
        assert_eq!(parse_go_float(""), None);
    }

    #[test]
    fn go_heap_keeps_the_smallest_on_top() {
        let less = |a: &f64, b: &f64| less_nan_first(*a, *b);
        let mut heap = GoHeap { items: Vec::new() };
        for v in [5.0, 3.0, 8.0, 1.0] {
            heap.push(v, less);
        }
        assert_eq!(heap.pop(less), Some(1.0));
        assert_eq!(heap.pop(less), Some(3.0));
    }
}
