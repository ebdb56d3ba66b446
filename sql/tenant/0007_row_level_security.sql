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
-- Without it (the API's staff paths, the worker, ledgerctl) every row is visible. The policies
-- compare columns with values computed once per statement (InitPlans, evaluated only when
-- reached): the scope, the customer's id, the ids of its accounts; no per-row sub-query, so an
-- unscoped statement pays a few microseconds. FORCE applies the policies to the tenant's own
-- role, which owns the tables; superusers (backups) bypass them.

-- PL/pgSQL, not SQL: a SQL function would be inlined, its body parsed while every statement on
-- these tables is planned (half a millisecond per unprepared statement, measured); these are
-- only called, once per statement, by the InitPlans below.
CREATE FUNCTION ledger_customer_scope() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN RETURN nullif(current_setting('ledger.customer_user_id', true), '')::uuid; END $$;

-- The scoped customer's id and its accounts' ids (read under the policies below).
CREATE FUNCTION ledger_customer_scope_id() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT id FROM customers WHERE user_id = ledger_customer_scope());
    END $$;
CREATE FUNCTION ledger_customer_scope_accounts() RETURNS uuid[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN
        RETURN (SELECT coalesce(array_agg(id), '{}') FROM accounts
                WHERE customer_id = ledger_customer_scope_id());
    END $$;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY customers_customer_scope ON customers
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR user_id = (SELECT ledger_customer_scope()))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR user_id = (SELECT ledger_customer_scope()));

ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY accounts_customer_scope ON accounts
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR customer_id = (SELECT ledger_customer_scope_id()))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR customer_id = (SELECT ledger_customer_scope_id()));

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY transactions_customer_scope ON transactions
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR from_account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[])
           OR to_account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[]))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR from_account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[])
                OR to_account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[]));

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_entries_customer_scope ON ledger_entries
    USING ((SELECT ledger_customer_scope()) IS NULL
           OR account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[]))
    WITH CHECK ((SELECT ledger_customer_scope()) IS NULL
                OR account_id = ANY ((SELECT ledger_customer_scope_accounts())::uuid[]));
