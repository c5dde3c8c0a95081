-- The admin audit: one row per change of a sale's definition, written in the
-- same transaction as the change (pgstore.PutSale), so a definition never
-- changes without its record. actor names the credential (httpapi's
-- Principal.TokenID, e.g. "admin:<16 hex of the token's SHA-256>"), never the
-- credential itself. before is NULL for the creation; before and after hold
-- the definition as the admin body spells it (name, stock, per_user_limit,
-- starts_at, ends_at). No foreign key to sales: the history outlives the row.
-- Additive only: code that predates it never reads or writes it.

CREATE TABLE sale_changes (
    id         bigserial   PRIMARY KEY,
    sale_id    text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL CHECK (actor <> ''),
    before     jsonb,
    after      jsonb       NOT NULL
);

-- GET /v1/admin/sales/{id}/changes: newest first, paged by id.
CREATE INDEX sale_changes_sale_id ON sale_changes (sale_id, id);

---- create above / drop below ----

DROP TABLE sale_changes;
