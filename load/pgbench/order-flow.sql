-- The SQL statements comptoir's order flow issues (create client, 3 × add
-- item, read cart, place order, read order), with the client checks that
-- service chaining adds, in one pgbench transaction script: the PostgreSQL
-- floor the benchmark compares comptoir with. Run against a database with
-- all three services' tables (`cargo xtask bench` sets it up), with
-- `pgbench -M prepared`.
INSERT INTO clients (name, email) VALUES ('Load Tester', 'pg-' || md5(random()::text) || '@example.com') RETURNING id AS cid \gset
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'CAFE-250', 'Café 250 g', 1250, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'THE-100', 'Thé 100 g', 499, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'SUCRE-1', 'Sucre 1 kg', 120, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
SELECT c.currency, c.updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
SELECT id FROM orders WHERE idempotency_key = 'pg-' || :cid;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
SELECT c.currency, c.updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
BEGIN;
INSERT INTO orders (client_id, total_cents, currency, idempotency_key) VALUES (:cid, 3738, 'EUR', 'pg-' || :cid) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id AS oid \gset
INSERT INTO order_lines (order_id, position, product_id, name, unit_price_cents, quantity, line_total_cents) SELECT :oid, * FROM unnest('{0,1,2}'::int4[], '{CAFE-250,THE-100,SUCRE-1}'::text[], '{a,b,c}'::text[], '{1250,499,120}'::int8[], '{2,2,2}'::int4[], '{2500,998,240}'::int8[]);
INSERT INTO cart_clears (order_id, client_id) VALUES (:oid, :cid);
COMMIT;
SELECT order_id, client_id FROM cart_clears WHERE order_id = :oid ORDER BY created_at LIMIT 1;
SELECT id, name, email, phone, address, created_at, updated_at, seq FROM clients WHERE id = :cid;
DELETE FROM carts WHERE client_id = :cid;
DELETE FROM cart_clears WHERE order_id = :oid;
SELECT order_id, client_id FROM cart_clears ORDER BY created_at LIMIT 5;
SELECT id, seq, client_id, status, total_cents, currency, created_at, cancelled_at FROM orders WHERE id = :oid;
SELECT order_id, product_id, name, unit_price_cents, quantity, line_total_cents FROM order_lines WHERE order_id = ANY(ARRAY[:oid]::uuid[]) ORDER BY order_id, position;
