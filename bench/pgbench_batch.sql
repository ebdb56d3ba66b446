-- One ledger-worker batch of :batch TRANSFERs as one pgbench transaction (bench.sh runs it with
-- -M prepared on a tenant database the product created). The statements after the first are
-- the worker's own, copied verbatim from src/ledger-worker/ledger_sql.c, in the order and
-- round trips (pipelines) of wk_apply_batch and wk_load_outcomes (src/ledger-worker/postings.c):
--   BEGIN, lock accounts, recorded commands | insert transactions, insert entries,
--   update balances, COMMIT | BEGIN REPEATABLE READ READ ONLY, outcome transactions, outcome
--   entries, COMMIT.
-- The first query only builds the batch's parameters (the arrays the worker would send) from
-- bench_accounts (id, number, gl_code of the tenant's accounts, numbered 1..:naccts); it is
-- read-only, outside the transaction, and makes this limit slightly conservative.
SELECT
  '{' || string_agg(f.number || ',' || t.number, ',') || '}' AS numbers,
  '{' || string_agg('USD', ',') || '}' AS currencies,
  '{}' AS internal_currencies, -- transfers post to no internal account: none is locked
  '{}' AS gl_codes,
  '{' || string_agg(x.tid::text, ',') || '}' AS txn_ids,
  '{' || string_agg('TRANSFER', ',') || '}' AS types,
  '{' || string_agg('0.01', ',') || '}' AS amounts,
  '{' || string_agg(f.id::text, ',') || '}' AS from_ids,
  '{' || string_agg(t.id::text, ',') || '}' AS to_ids,
  '{' || string_agg('"bench transfer"', ',') || '}' AS descrs,
  '{' || string_agg('NULL', ',') || '}' AS nulls,
  '{' || string_agg('COMPLETED', ',') || '}' AS statuses,
  '{' || string_agg('bench-pg-' || x.tid::text, ',') || '}' AS idems,
  '{' || string_agg(:user_id::text, ',') || '}' AS users,
  '{' || string_agg('127.0.0.1', ',') || '}' AS ips,
  '{' || string_agg('ledger-bench', ',') || '}' AS devices,
  '{' || string_agg(extract(epoch FROM now())::text, ',') || '}' AS ats,
  '{' || string_agg('"txn.commands/0/' || x.g || '"', ',') || '}' AS positions,
  '{' || string_agg(gen_random_uuid()::text || ',' || gen_random_uuid()::text, ',') || '}' AS entry_ids,
  '{' || string_agg(x.tid::text || ',' || x.tid::text, ',') || '}' AS entry_txns,
  '{' || string_agg(f.id::text || ',' || t.id::text, ',') || '}' AS entry_accts,
  '{' || string_agg('DEBIT,CREDIT', ',') || '}' AS entry_types,
  '{' || string_agg('0.01,0.01', ',') || '}' AS entry_amounts,
  '{' || string_agg('USD,USD', ',') || '}' AS entry_currencies,
  '{' || string_agg('0.00,0.00', ',') || '}' AS entry_afters,
  '{' || string_agg(f.gl_code || ',' || t.gl_code, ',') || '}' AS entry_codes,
  '{' || string_agg('"bench transfer","bench transfer"', ',') || '}' AS entry_descrs,
  '{' || string_agg('0.00,0.00', ',') || '}' AS balances
FROM (SELECT g, gen_random_uuid() AS tid, 1 + floor(random() * :naccts)::int AS fi,
             floor(random() * (:naccts - 1))::int AS off
      FROM generate_series(1, :batch) g) x
JOIN bench_accounts f ON f.i = x.fi
JOIN bench_accounts t ON t.i = 1 + (x.fi + x.off) % :naccts
\gset
\startpipeline
BEGIN;
SELECT id, account_number, account_type = 'INTERNAL', status, currency, balance::text, available_balance::text, minimum_balance::text, overdraft_limit::text, normal_side = 'CREDIT', gl_code FROM accounts WHERE deleted_at IS NULL AND (account_number = ANY(:numbers::text[]) OR id = ANY(:empty::uuid[]) OR (account_type = 'INTERNAL' AND (currency, gl_code) IN (SELECT c, g FROM unnest(:internal_currencies::text[], :gl_codes::text[]) AS u(c, g)))) ORDER BY id FOR UPDATE;
SELECT id FROM transactions WHERE id = ANY(:txn_ids::uuid[]);
\endpipeline
\startpipeline
INSERT INTO transactions (id, transaction_ref, type, amount, currency, from_account_id, to_account_id, description, reference, status, failure_code, failure_reason, original_transaction_id, reversal_reason, idempotency_key, created_by, created_by_ip, created_by_device, created_at, processed_at, command_position) SELECT u.id, 'TXN-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-' || translate(format('%6s', nextval('transaction_ref_seq')), ' ', '0'), u.type, u.amount, u.currency, u.from_id, u.to_id, u.description, u.reference, u.status, u.code, u.reason, u.orig, u.revreason, u.idem, u.created_by, u.ip, u.device, to_timestamp(u.at), now(), u.pos FROM unnest(:txn_ids::uuid[], :types::transaction_type[], :amounts::numeric[], :currencies::text[], :from_ids::uuid[], :to_ids::uuid[], :descrs::text[], :nulls::text[], :statuses::transaction_status[], :nulls::text[], :nulls::text[], :nulls::uuid[], :nulls::text[], :idems::text[], :users::uuid[], :ips::text[], :devices::text[], :ats::numeric[], :positions::text[]) WITH ORDINALITY AS u(id, type, amount, currency, from_id, to_id, description, reference, status, code, reason, orig, revreason, idem, created_by, ip, device, at, pos, ord) ORDER BY u.ord;
INSERT INTO ledger_entries (id, transaction_id, account_id, entry_type, amount, currency, balance_after, account_code, description) SELECT u.id, u.txn, u.acct, u.type, u.amount, u.currency, u.after, u.code, u.descr FROM unnest(:entry_ids::uuid[], :entry_txns::uuid[], :entry_accts::uuid[], :entry_types::entry_type[], :entry_amounts::numeric[], :entry_currencies::text[], :entry_afters::numeric[], :entry_codes::text[], :entry_descrs::text[]) WITH ORDINALITY AS u(id, txn, acct, type, amount, currency, after, code, descr, ord) ORDER BY u.ord;
UPDATE accounts SET balance = u.balance, available_balance = u.avail FROM unnest(:entry_accts::uuid[], :balances::numeric[], :balances::numeric[]) AS u(id, balance, avail) WHERE accounts.id = u.id;
COMMIT;
\endpipeline
\startpipeline
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT id, transaction_ref, type, status, failure_code, failure_reason, (extract(epoch FROM processed_at) * 1000)::bigint, command_position FROM transactions WHERE id = ANY(:txn_ids::uuid[]);
SELECT e.id, e.transaction_id, e.account_id, a.account_number, e.entry_type, e.amount::text, e.currency, e.balance_after::text, e.account_code, e.description, (extract(epoch FROM e.created_at) * 1000)::bigint FROM ledger_entries e JOIN accounts a ON a.id = e.account_id WHERE e.transaction_id = ANY(:txn_ids::uuid[]) ORDER BY e.entry_seq;
COMMIT;
\endpipeline
