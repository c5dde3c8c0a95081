-- The checkout window (issue #14). A sale may hold an accepted order's units
-- for hold_seconds awaiting payment; the order then ends paid (final),
-- expired or cancelled (its units go back to the sale and to the buyer's
-- allowance, once). The hot ledger (Redis, hold.lua) decides; the writer
-- applies the OrderPaid / OrderExpired / OrderCancelled events here.
--
-- Additive only, safe beside code that predates it: every new column is
-- NULL or defaults to "no window", which is what that code writes and reads.
-- The CHECK constraints are NOT VALID: every existing row satisfies them (its
-- new columns are NULL or 0), and NOT VALID spares a scan of orders under the
-- ACCESS EXCLUSIVE lock ALTER TABLE holds; new and updated rows are checked.

ALTER TABLE sales ADD COLUMN hold_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE sales ADD CONSTRAINT sales_hold_seconds CHECK (hold_seconds BETWEEN 0 AND 86400) NOT VALID;

-- orders.hold: NULL for an order without a window (final once persisted),
-- else held | paid | expired | cancelled. status stays 'confirmed' (the
-- order is persisted); the read derives paid/expired/cancelled from hold.
-- ended_at is when an expired or cancelled hold ended (paid_at for paid).
ALTER TABLE orders
    ADD COLUMN hold        text,
    ADD COLUMN expires_at  timestamptz,
    ADD COLUMN paid_at     timestamptz,
    ADD COLUMN ended_at    timestamptz,
    ADD COLUMN payment_ref text;
ALTER TABLE orders
    ADD CONSTRAINT orders_hold_state CHECK (hold IN ('held', 'paid', 'expired', 'cancelled')) NOT VALID,
    ADD CONSTRAINT orders_hold_window CHECK ((hold IS NULL) = (expires_at IS NULL)) NOT VALID,
    ADD CONSTRAINT orders_hold_paid CHECK (CASE WHEN hold = 'paid' THEN paid_at IS NOT NULL AND payment_ref IS NOT NULL
        ELSE paid_at IS NULL AND payment_ref IS NULL END) NOT VALID,
    ADD CONSTRAINT orders_hold_ended CHECK (CASE WHEN hold IN ('expired', 'cancelled') THEN ended_at IS NOT NULL
        ELSE ended_at IS NULL END) NOT VALID;

-- sale_totals keeps meaning "units the sale has given away for good or on
-- hold": the writer decrements units when a persisted order's hold expires
-- or is cancelled, in the transaction that records it, so the oversell guard
-- (persisted <= stock) and I5 (remaining + persisted = stock) hold while
-- returned units are sold again. orders still counts every persisted order.

-- Transitions that arrived before their order (the API's outbox published
-- the hold's end before the relay published the OrderPlaced, or the two
-- landed in batches committed out of order). The hot ledger ends a hold at
-- most once, so one row per order: the first stays, a redelivery is a no-op.
-- The writer applies and deletes the row in the transaction that inserts
-- the order. A row that outlives its order's arrival names a transition the
-- persisted order contradicts (another sale, user or quantity) or an order
-- never persisted (compensated): evidence for an operator, never applied.
CREATE TABLE order_transitions (
    order_id    text        PRIMARY KEY,
    sale_id     text        NOT NULL,
    user_id     text        NOT NULL,
    quantity    bigint      NOT NULL CHECK (quantity >= 1),
    hold        text        NOT NULL CHECK (hold IN ('paid', 'expired', 'cancelled')),
    at          timestamptz NOT NULL,
    payment_ref text CHECK ((hold = 'paid') = (payment_ref IS NOT NULL)),
    received_at timestamptz NOT NULL DEFAULT now(),
    trace_id    text
);

---- create above / drop below ----

DROP TABLE order_transitions;
ALTER TABLE orders
    DROP CONSTRAINT orders_hold_ended,
    DROP CONSTRAINT orders_hold_paid,
    DROP CONSTRAINT orders_hold_window,
    DROP CONSTRAINT orders_hold_state,
    DROP COLUMN payment_ref,
    DROP COLUMN ended_at,
    DROP COLUMN paid_at,
    DROP COLUMN expires_at,
    DROP COLUMN hold;
ALTER TABLE sales DROP CONSTRAINT sales_hold_seconds, DROP COLUMN hold_seconds;
