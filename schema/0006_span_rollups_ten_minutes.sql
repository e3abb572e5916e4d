-- Ten-minute span rollups beside the minute and hour ones, so that a long
-- range at a 10-minute step reads one row per series and step. Built here
-- from the minute rollups already stored; the writer maintains them from
-- now on as it does the hourly ones.
INSERT OR REPLACE INTO span_rollups (resolution, series_id, bucket_start, span_count,
                                     duration_sum_nano, duration_min_nano, duration_max_nano,
                                     histogram)
SELECT 600, series_id, (bucket_start / 600) * 600, sum(span_count), sum(duration_sum_nano),
       COALESCE(min(CASE WHEN span_count > 0 THEN duration_min_nano END), 0),
       COALESCE(max(CASE WHEN span_count > 0 THEN duration_max_nano END), 0),
       lookout_histogram_merge(histogram)
FROM span_rollups
WHERE resolution = 60
GROUP BY series_id, bucket_start / 600;
