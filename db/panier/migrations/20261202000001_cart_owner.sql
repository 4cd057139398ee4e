-- Who a cart belongs to: its client's owner (see db/clients), recorded
-- when the clients service confirms the client for a caller. A customer
-- reaches a verified cart only when it is the owner.
ALTER TABLE carts ADD COLUMN owner_id uuid;
-- Carts verified before owners were recorded are asked about once more,
-- which records their owner.
UPDATE carts SET client_status = 'unchecked' WHERE client_status = 'verified';
