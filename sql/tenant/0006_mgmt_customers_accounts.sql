-- Customers, KYC and accounts managed over the API (src/producer-api/api_customers.c,
-- api_accounts.c).

-- The KYC expiry sweep (lg_kyc_expire, run before customers are read) looks at VERIFIED
-- customers by the expiry date of their identity document: a partial index keeps it cheap
-- however many customers there are.
CREATE INDEX customers_kyc_expiry_idx ON customers (id_expiry_date)
    WHERE kyc_status = 'VERIFIED' AND deleted_at IS NULL;

-- Keyset pages, newest first: GET /v1/customers and GET /v1/accounts order by
-- (created_at DESC, id DESC).
CREATE INDEX customers_created_at_id_idx ON customers (created_at DESC, id DESC);
CREATE INDEX accounts_created_at_id_idx ON accounts (created_at DESC, id DESC);

-- Account settings: a minimum balance is an amount, never negative (the overdraft limit
-- already has accounts_limits_nonnegative); an interest rate is an annual percentage.
ALTER TABLE accounts ADD CONSTRAINT accounts_minimum_balance_nonnegative
    CHECK (minimum_balance >= 0);
ALTER TABLE accounts ADD CONSTRAINT accounts_interest_rate_range
    CHECK (interest_rate IS NULL OR interest_rate BETWEEN 0 AND 100);
