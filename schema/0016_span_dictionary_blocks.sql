-- How the spans packed with a dictionary lay out their blobs:
--   0: varint(encoded length) ‖ a magicless zstd frame (dictionaries stored
--      before this migration);
--   1: varint(encoded length) ‖ the frame's one compressed block alone, its
--      frame and block headers rebuilt from the two lengths when read (five
--      bytes less per blob); a blob zstd cannot shrink is stored as encoded
--      behind its length.
ALTER TABLE span_dictionaries ADD COLUMN layout INTEGER NOT NULL DEFAULT 0;

-- New spans are packed with the newest dictionary: store it again, under a
-- new id, in layout 1. Spans packed before keep the id they name.
INSERT INTO span_dictionaries (created_unix_nano, samples, sample_bytes, packed_bytes, dictionary, layout)
SELECT created_unix_nano, samples, sample_bytes, packed_bytes, dictionary, 1
FROM span_dictionaries ORDER BY id DESC LIMIT 1;
