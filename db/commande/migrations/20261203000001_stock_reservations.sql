-- Stock comes from the catalogue service, in its own database: an order is
-- 'pending' from its placement until the catalogue reserved its lines,
-- then 'validated'; a refused one is deleted. No transaction spans both
-- databases, so the steps are a saga kept here: a pending order is settled
-- by its placement, a replay of its key, or a later placement (a crash
-- leaves it pending, never lost), and stock to give back is queued below.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending', 'validated', 'cancelled'));
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';

-- Outbox: stock the catalogue is to give back (a cancelled order's, or
-- whatever a refused order may hold). Written in the same statement as the
-- cancellation or refusal, deleted once the catalogue confirms: a failed
-- release is retried by later placements, never lost.
CREATE TABLE stock_releases (
    order_id    uuid        PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_releases_created ON stock_releases (created_at);
