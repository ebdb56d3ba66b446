-- Which Kafka message recorded each transaction: "<topic>/<partition>/<offset>" of the command.
-- The worker publishes a transaction's outcome (its TransactionResult and LedgerEntryEvents) for
-- that message only: delivered again (after a crash or a rebalance) it re-emits the recorded
-- outcome, while another message of the same transaction (a client's retry with the same
-- Idempotency-Key) publishes nothing, so each outcome reaches read_committed consumers once.
-- NULL for transactions recorded before this column existed: their outcome is always emitted.
ALTER TABLE transactions ADD COLUMN command_position text;
