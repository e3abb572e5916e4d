-- A span's start is stored as an offset from its trace's base, a few bytes
-- instead of eight: the spans of a trace start within seconds of each
-- other.
--
-- span_base_unix_nano: the trace's start when its row was first written,
-- never changed afterwards (the trace's start moves when an earlier span
-- arrives; the offsets stored must not). NULL in traces stored before this
-- migration, whose spans hold their start itself: an offset from 0.
ALTER TABLE traces ADD COLUMN span_base_unix_nano INTEGER;
ALTER TABLE spans RENAME COLUMN start_unix_nano TO start_offset_nano;
