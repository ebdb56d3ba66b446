-- Row-level security on the tables that hold customers' rows: a second line of defence behind
-- the WHERE clauses of customer-scoped reads.
--
-- A session declares itself a customer with the transaction-local setting
-- ledger.customer_user_id (the customer's users.id), set by lg_db_begin_customer at the start of
-- a transaction of its own; it ends with the transaction, so a pooled connection is never
-- handed on scoped (the router closes a connection given back inside a transaction). While it
-- is set, only the rows of that customer are visible and writable: its customers row, its
-- accounts, the transactions that debit or credit one of them, their ledger entries. A value
-- that is not a UUID makes every statement fail rather than fall open.
--
-- Without it (the API's staff paths, the worker, ledgerctl) every row is visible: the policy
-- tests the setting once per statement (an InitPlan), not per row. FORCE applies the policies
-- to the tenant's own role, which owns the tables; superusers (backups) bypass them.

CREATE FUNCTION ledger_customer_scope() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('ledger.customer_user_id', true), '')::uuid $$;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY customers_customer_scope ON customers
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR user_id = (SELECT ledger_customer_scope()))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR user_id = (SELECT ledger_customer_scope()));

-- The EXISTS sub-queries read customers and accounts under their own policies.
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY accounts_customer_scope ON accounts
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR EXISTS (SELECT 1 FROM customers c WHERE c.id = accounts.customer_id))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR EXISTS (SELECT 1 FROM customers c WHERE c.id = accounts.customer_id));

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY transactions_customer_scope ON transactions
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR EXISTS (SELECT 1 FROM accounts a
                      WHERE a.id = transactions.from_account_id
                         OR a.id = transactions.to_account_id))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR EXISTS (SELECT 1 FROM accounts a
                           WHERE a.id = transactions.from_account_id
                              OR a.id = transactions.to_account_id));

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_entries_customer_scope ON ledger_entries
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = ledger_entries.account_id))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = ledger_entries.account_id));
