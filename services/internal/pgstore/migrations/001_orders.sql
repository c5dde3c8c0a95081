-- The durable ledger. Orders arrive from Kafka (at least once); order_id is
-- the idempotency anchor of the writer (INSERT … ON CONFLICT (order_id) DO NOTHING).

CREATE TABLE sales (
    sale_id        text PRIMARY KEY,
    name           text        NOT NULL,
    stock          bigint      NOT NULL CHECK (stock >= 0),
    per_user_limit bigint      NOT NULL CHECK (per_user_limit >= 1),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    order_id        text        PRIMARY KEY,
    sale_id         text        NOT NULL,
    user_id         text        NOT NULL,
    quantity        bigint      NOT NULL CHECK (quantity >= 1),
    idempotency_key text        NOT NULL,
    status          text        NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'failed')),
    reserved_at     timestamptz NOT NULL,
    persisted_at    timestamptz NOT NULL DEFAULT now(),
    trace_id        text,
    -- One (user, Idempotency-Key) yields one order per sale (I3), even if a bug upstream minted two ids.
    CONSTRAINT orders_sale_user_key UNIQUE (sale_id, user_id, idempotency_key)
);

-- GET /v1/orders/{id} uses the primary key; verification and dashboards sum per sale and per (sale, user).
CREATE INDEX orders_sale_user ON orders (sale_id, user_id);

---- create above / drop below ----

DROP TABLE orders;
DROP TABLE sales;
