-- Who an order belongs to: its cart's owner when it was placed (see
-- db/clients). A customer lists and reaches only its own orders; orders
-- placed before owners were recorded are staff's only.
ALTER TABLE orders ADD COLUMN owner_id uuid;
CREATE INDEX orders_owner_seq ON orders (owner_id, seq);
