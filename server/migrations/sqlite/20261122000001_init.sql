-- paycode issuer schema (SQLite). Keep in step with migrations/postgres.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    balance       BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL
);

CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id),
    expires_ms BIGINT NOT NULL,
    used_ms    BIGINT
);

CREATE TABLE devices (
    device_id     TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(user_id),
    slot          BIGINT NOT NULL UNIQUE,
    seed          BLOB,
    signing_key   BLOB NOT NULL,
    sealing_key   BLOB NOT NULL,
    platform      TEXT NOT NULL,
    status        TEXT NOT NULL,
    valid_from    BIGINT NOT NULL,
    valid_until   BIGINT NOT NULL,
    sequence      BIGINT NOT NULL,
    key_epoch     BIGINT NOT NULL,
    redeemed_mark BIGINT,
    voided_mark   BIGINT,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE seen_signatures (
    sig_hash   TEXT PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX seen_signatures_expiry ON seen_signatures(expires_ms);

CREATE TABLE online_codes (
    code_hash   TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices(device_id),
    expires_ms  BIGINT NOT NULL,
    redeemed_ms BIGINT,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX online_codes_device ON online_codes(device_id);

CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE payments (
    payment_id      TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants(merchant_id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    device_id       TEXT,
    user_id         TEXT,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    code_kind       TEXT,
    created_ms      BIGINT NOT NULL,
    UNIQUE (merchant_id, idempotency_key)
);

CREATE TABLE ledger (
    payment_id TEXT PRIMARY KEY REFERENCES payments(payment_id),
    user_id    TEXT NOT NULL REFERENCES users(user_id),
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX ledger_user ON ledger(user_id);

CREATE TABLE rejections (
    rejection_id TEXT PRIMARY KEY,
    at_ms        BIGINT NOT NULL,
    merchant_id  TEXT NOT NULL,
    payment_id   TEXT,
    slot         BIGINT,
    reason       TEXT NOT NULL,
    code_prefix  TEXT NOT NULL
);
CREATE INDEX rejections_at ON rejections(at_ms);
