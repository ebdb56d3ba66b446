-- Tenant database: one per bank. Models User, Customer, Account, Transaction, LedgerEntry,
-- IdempotencyRecord and AuditLog of the source design, with every enum, default, relation,
-- unique constraint and index (sql/README.md maps every Prisma name to the SQL one and lists the
-- additions).

CREATE TYPE user_role AS ENUM ('SUPER_ADMIN', 'MANAGER', 'TELLER', 'CUSTOMER');
CREATE TYPE user_status AS ENUM ('ACTIVE', 'INACTIVE', 'SUSPENDED', 'LOCKED');
CREATE TYPE customer_type AS ENUM ('INDIVIDUAL', 'CORPORATE');
CREATE TYPE gender AS ENUM ('MALE', 'FEMALE', 'OTHER');
CREATE TYPE kyc_status AS ENUM ('PENDING', 'VERIFIED', 'REJECTED', 'EXPIRED');
CREATE TYPE risk_level AS ENUM ('LOW', 'MEDIUM', 'HIGH');
-- INTERNAL is an addition: the bank's own general-ledger accounts (cash, fee income, interest
-- expense, suspense), which give every posting its second side.
CREATE TYPE account_type AS ENUM ('SAVINGS', 'CHECKING', 'FIXED_DEPOSIT', 'LOAN', 'INTERNAL');
CREATE TYPE account_status AS ENUM ('ACTIVE', 'INACTIVE', 'FROZEN', 'CLOSED');
CREATE TYPE transaction_type AS ENUM ('DEPOSIT', 'WITHDRAWAL', 'TRANSFER', 'FEE', 'INTEREST',
                                      'REVERSAL');
CREATE TYPE transaction_status AS ENUM ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED',
                                        'REVERSED');
CREATE TYPE entry_type AS ENUM ('DEBIT', 'CREDIT');

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- ============================================ users

CREATE TABLE users (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email                  text        NOT NULL,
    password_hash          text        NOT NULL,
    first_name             text        NOT NULL,
    last_name              text        NOT NULL,
    phone                  text,
    role                   user_role   NOT NULL DEFAULT 'CUSTOMER',
    status                 user_status NOT NULL DEFAULT 'ACTIVE',
    failed_login_attempts  integer     NOT NULL DEFAULT 0,
    locked_until           timestamptz,
    password_changed_at    timestamptz,
    last_login_at          timestamptz,
    last_login_ip          text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    deleted_at             timestamptz,
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX idx_users_email ON users (email);
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_status_idx ON users (status);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ============================================ customers (KYC)

CREATE TABLE customers (
    id                   uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id              uuid          NOT NULL REFERENCES users (id),
    customer_number      text          NOT NULL,
    customer_type        customer_type NOT NULL DEFAULT 'INDIVIDUAL',
    date_of_birth        timestamptz,
    gender               gender,
    nationality          text,
    id_type              text,
    id_number            text,
    id_expiry_date       timestamptz,
    address_line1        text,
    address_line2        text,
    city                 text,
    state                text,
    postal_code          text,
    country              text,
    company_name         text,
    registration_number  text,
    tax_id               text,
    kyc_status           kyc_status    NOT NULL DEFAULT 'PENDING',
    kyc_verified_at      timestamptz,
    kyc_verified_by      text,
    risk_level           risk_level    NOT NULL DEFAULT 'LOW',
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    CONSTRAINT customers_user_id_key UNIQUE (user_id),
    CONSTRAINT customers_customer_number_key UNIQUE (customer_number)
);
-- @@index([customerNumber]) and @@index([userId]) are served by the unique constraints' indexes.
CREATE INDEX customers_kyc_status_idx ON customers (kyc_status);
CREATE TRIGGER customers_updated_at BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE SEQUENCE customer_number_seq;

-- ============================================ accounts

CREATE TABLE accounts (
    id                 uuid           PRIMARY KEY DEFAULT gen_random_uuid(),
    account_number     text           NOT NULL,
    account_type       account_type   NOT NULL,
    customer_id        uuid           NOT NULL REFERENCES customers (id),
    balance            numeric(15, 2) NOT NULL DEFAULT 0,
    available_balance  numeric(15, 2) NOT NULL DEFAULT 0,
    currency           text           NOT NULL DEFAULT 'USD',
    minimum_balance    numeric(15, 2) NOT NULL DEFAULT 0,
    interest_rate      numeric(5, 2),
    overdraft_limit    numeric(15, 2) NOT NULL DEFAULT 0,
    status             account_status NOT NULL DEFAULT 'ACTIVE',
    -- Additions: the chart-of-accounts code postings to this account carry, and the side on
    -- which its balance grows (DEBIT for assets and expenses, CREDIT for liabilities, equity
    -- and income). balance = sum(entries on normal_side) - sum(entries on the other side).
    gl_code            text           NOT NULL DEFAULT '2000',
    normal_side        entry_type     NOT NULL DEFAULT 'CREDIT',
    created_at         timestamptz    NOT NULL DEFAULT now(),
    created_by         uuid           NOT NULL REFERENCES users (id),
    updated_at         timestamptz    NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    deleted_at         timestamptz,
    CONSTRAINT unique_account_number UNIQUE (account_number),
    CONSTRAINT accounts_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT accounts_limits_nonnegative CHECK (overdraft_limit >= 0)
);
-- @@index([accountNumber]) is served by unique_account_number.
CREATE INDEX idx_accounts_customer_id ON accounts (customer_id);
CREATE INDEX accounts_status_idx ON accounts (status);
CREATE INDEX accounts_account_type_idx ON accounts (account_type);
CREATE INDEX idx_accounts_customer_status ON accounts (customer_id, status);
-- One internal account per chart code and currency.
CREATE UNIQUE INDEX accounts_internal_gl_currency_key ON accounts (gl_code, currency)
    WHERE account_type = 'INTERNAL';
CREATE TRIGGER accounts_updated_at BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ============================================ transactions

CREATE TABLE transactions (
    id                       uuid               PRIMARY KEY,
    transaction_ref          text               NOT NULL,
    idempotency_key          text,
    type                     transaction_type   NOT NULL,
    amount                   numeric(15, 2)     NOT NULL,
    currency                 text               NOT NULL DEFAULT 'USD',
    from_account_id          uuid               REFERENCES accounts (id),
    to_account_id            uuid               REFERENCES accounts (id),
    description              text,
    reference                text,
    status                   transaction_status NOT NULL DEFAULT 'PENDING',
    failure_reason           text,
    -- Addition: the stable machine-readable cause of a FAILED status (INSUFFICIENT_FUNDS, ...).
    failure_code             text,
    processed_at             timestamptz,
    reversed_at              timestamptz,
    reversal_reason          text,
    original_transaction_id  uuid,
    batch_id                 text,
    created_at               timestamptz        NOT NULL DEFAULT now(),
    created_by               uuid               NOT NULL REFERENCES users (id),
    created_by_ip            text,
    created_by_device        text,
    CONSTRAINT unique_transaction_ref UNIQUE (transaction_ref),
    CONSTRAINT unique_idempotency_key UNIQUE (idempotency_key),
    CONSTRAINT transactions_amount_positive CHECK (amount > 0)
);
-- @@index([transactionRef]) and @@index([idempotencyKey]) are served by the unique constraints.
CREATE INDEX transactions_status_idx ON transactions (status);
CREATE INDEX transactions_from_account_id_idx ON transactions (from_account_id);
CREATE INDEX transactions_to_account_id_idx ON transactions (to_account_id);
-- @@index([createdAt]) as section 4.1 orders it: newest first.
CREATE INDEX idx_transactions_created_at ON transactions (created_at DESC);
CREATE INDEX transactions_batch_id_idx ON transactions (batch_id);
CREATE INDEX idx_transactions_account_status ON transactions (from_account_id, status);
CREATE INDEX transactions_original_transaction_id_idx ON transactions (original_transaction_id)
    WHERE original_transaction_id IS NOT NULL;
CREATE SEQUENCE transaction_ref_seq;

-- ============================================ ledger entries (double entry)

CREATE TABLE ledger_entries (
    id              uuid           PRIMARY KEY,
    transaction_id  uuid           NOT NULL REFERENCES transactions (id),
    account_id      uuid           NOT NULL REFERENCES accounts (id),
    entry_type      entry_type     NOT NULL,
    amount          numeric(15, 2) NOT NULL,
    currency        text           NOT NULL DEFAULT 'USD',
    balance_after   numeric(15, 2) NOT NULL,
    account_code    text           NOT NULL,
    description     text,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    -- Addition: the order in which entries were posted, which balance_after follows
    -- (created_at can tie within one database transaction).
    entry_seq       bigint         GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT ledger_entries_amount_positive CHECK (amount > 0)
);
CREATE INDEX ledger_entries_transaction_id_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_id_idx ON ledger_entries (account_id);
CREATE INDEX ledger_entries_created_at_idx ON ledger_entries (created_at);
CREATE INDEX ledger_entries_account_code_idx ON ledger_entries (account_code);
CREATE INDEX idx_ledger_account_created ON ledger_entries (account_id, created_at DESC);
CREATE UNIQUE INDEX ledger_entries_account_seq_key ON ledger_entries (account_id, entry_seq);

-- ============================================ idempotency

CREATE TABLE idempotency_records (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key  text        NOT NULL,
    endpoint         text        NOT NULL,
    method           text        NOT NULL,
    request_body     jsonb,
    response_status  integer     NOT NULL,
    response_body    jsonb,
    user_id          text,
    ip_address       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT idempotency_records_idempotency_key_key UNIQUE (idempotency_key)
);
-- @@index([idempotencyKey]) is served by the unique constraint.
CREATE INDEX idempotency_records_expires_at_idx ON idempotency_records (expires_at);

-- ============================================ audit

CREATE TABLE audit_logs (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text,
    user_email   text,
    ip_address   text,
    user_agent   text,
    action       text        NOT NULL,
    resource     text        NOT NULL,
    resource_id  text,
    changes      jsonb,
    metadata     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id);
CREATE INDEX audit_logs_action_idx ON audit_logs (action);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource);
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);
