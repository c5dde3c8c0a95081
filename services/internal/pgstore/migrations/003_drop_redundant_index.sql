-- orders_sale_user (sale_id, user_id) duplicated the leading columns of the
-- unique constraint orders_sale_user_key (sale_id, user_id, idempotency_key),
-- which serves the same per-sale and per-(sale, user) reads. Every extra
-- index is paid on each insert: the writer's batch insert was its bottleneck.

DROP INDEX IF EXISTS orders_sale_user;

---- create above / drop below ----

CREATE INDEX orders_sale_user ON orders (sale_id, user_id);
