-- The plain single-row commit rate: one INSERT, one COMMIT (fsync, synchronous_commit=on).
INSERT INTO bench_commit (note) VALUES ('bench');
