-- Archive tables for `ledgerctl archive`: transactions and their ledger entries older than a
-- cut-off (default 7 years) move here, in batches, a transaction always together with all its
-- entries. Same columns as the live tables (LIKE, taken when this migration runs: a later
-- migration that adds a column to transactions or ledger_entries must add it here too), plus
-- archived_at. Account balances are not touched: `ledgerctl verify` sums the live and the
-- archived entries together, and entry_seq moves with each entry so that the running balance
-- (balance_after) still follows posting order across both tables.
--
-- Design notes:
--   - No foreign key from the live tables into the archive, nor from the archive to accounts or
--     users: accounts and users are never archived, and an archive must not block a change of
--     them. Within the archive, an entry references its archived transaction.
--   - entry_seq is a plain bigint here (not an identity): archived rows keep the number they
--     were posted with.
--   - A reversal and its original move only together (ledgerctl archive skips a transaction
--     whose linked original or reversal is newer than the cut-off), so
--     original_transaction_id never points from the live table into the archive.
--   - Unique transaction_ref and idempotency_key stay unique across both tables only as long as
--     nothing re-uses them; new refs come from a sequence and idempotency records expire after
--     24 hours, long before any cut-off.
CREATE TABLE transactions_archive (
    LIKE transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS
);
ALTER TABLE transactions_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE transactions_archive ADD CONSTRAINT transactions_archive_pkey PRIMARY KEY (id);
CREATE INDEX transactions_archive_created_at_idx ON transactions_archive (created_at DESC);
CREATE INDEX transactions_archive_from_account_id_idx ON transactions_archive (from_account_id);
CREATE INDEX transactions_archive_to_account_id_idx ON transactions_archive (to_account_id);
CREATE INDEX transactions_archive_ref_idx ON transactions_archive (transaction_ref);

CREATE TABLE ledger_entries_archive (
    LIKE ledger_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS
);
ALTER TABLE ledger_entries_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE ledger_entries_archive ADD CONSTRAINT ledger_entries_archive_pkey PRIMARY KEY (id);
ALTER TABLE ledger_entries_archive ADD CONSTRAINT ledger_entries_archive_transaction_fkey
    FOREIGN KEY (transaction_id) REFERENCES transactions_archive (id);
CREATE INDEX ledger_entries_archive_transaction_id_idx ON ledger_entries_archive (transaction_id);
CREATE UNIQUE INDEX ledger_entries_archive_account_seq_key
    ON ledger_entries_archive (account_id, entry_seq);

-- Finding the oldest live transactions to move: created_at ascending is served by
-- idx_transactions_created_at (a backward scan); entries by ledger_entries_transaction_id_idx.
