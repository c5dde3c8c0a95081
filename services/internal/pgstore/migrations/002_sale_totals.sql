-- Per-sale running totals of persisted orders, maintained in the same
-- statement as the insert: the oversell guard (persisted <= stock) and I5
-- (remaining + persisted = stock) read one small row instead of scanning orders.

CREATE TABLE sale_totals (
    sale_id text PRIMARY KEY,
    orders  bigint NOT NULL DEFAULT 0,
    units   bigint NOT NULL DEFAULT 0
);

INSERT INTO sale_totals (sale_id, orders, units)
SELECT sale_id, count(*), sum(quantity) FROM orders WHERE status = 'confirmed' GROUP BY sale_id;

---- create above / drop below ----

DROP TABLE sale_totals;
