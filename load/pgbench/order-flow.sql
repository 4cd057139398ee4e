-- The SQL statements comptoir's order flow issues (create client, 3 × add
-- item, read cart, place order, read order), with the client checks that
-- service chaining adds, in one pgbench transaction script: the PostgreSQL
-- floor the benchmark compares comptoir with. Run against a database with
-- all three services' tables (`cargo xtask bench` sets it up), with
-- `pgbench -M prepared`.
INSERT INTO clients (name, email) VALUES ('Load Tester', 'pg-' || md5(random()::text) || '@example.com') RETURNING id AS cid \gset
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'CAFE-250', 'Café 250 g', 1250, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'THE-100', 'Thé 100 g', 499, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
WITH cart AS (INSERT INTO carts (client_id) VALUES (:cid) ON CONFLICT (client_id) DO UPDATE SET updated_at = now() RETURNING client_id) INSERT INTO cart_items (client_id, product_id, name, unit_price_cents, quantity) SELECT client_id, 'SUCRE-1', 'Sucre 1 kg', 120, 2 FROM cart ON CONFLICT (client_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, name = EXCLUDED.name, unit_price_cents = EXCLUDED.unit_price_cents;
SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
SELECT id FROM orders WHERE idempotency_key = 'pg-' || :cid;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
SELECT c.currency, c.updated_at AT TIME ZONE 'UTC' AS updated_at, i.product_id, i.name, i.unit_price_cents, i.quantity FROM carts c LEFT JOIN cart_items i USING (client_id) WHERE c.client_id = :cid ORDER BY i.seq;
BEGIN;
INSERT INTO orders (client_id, total_cents, currency, idempotency_key) VALUES (:cid, 3738, 'EUR', 'pg-' || :cid) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id AS oid \gset
INSERT INTO order_lines (order_id, position, product_id, name, unit_price_cents, quantity, line_total_cents) SELECT :oid, * FROM unnest('{0,1,2}'::int4[], '{CAFE-250,THE-100,SUCRE-1}'::text[], '{a,b,c}'::text[], '{1250,499,120}'::int8[], '{2,2,2}'::int4[], '{2500,998,240}'::int8[]);
INSERT INTO cart_clears (order_id, client_id) VALUES (:oid, :cid);
COMMIT;
SELECT c.order_id, c.client_id, array_agg(l.product_id ORDER BY l.position) AS product_ids, array_agg(l.quantity ORDER BY l.position) AS quantities FROM cart_clears c JOIN order_lines l USING (order_id) WHERE c.order_id = :oid GROUP BY c.order_id, c.client_id, c.created_at ORDER BY c.created_at LIMIT 1;
SELECT id, name, email, phone, address, created_at AT TIME ZONE 'UTC' AS created_at, updated_at AT TIME ZONE 'UTC' AS updated_at, seq FROM clients WHERE id = :cid;
WITH applied AS (INSERT INTO applied_checkouts (order_id, client_id) VALUES (:oid, :cid) ON CONFLICT (order_id) DO NOTHING RETURNING order_id), cart AS (SELECT client_id FROM carts WHERE client_id = :cid AND EXISTS (SELECT 1 FROM applied) FOR UPDATE), took AS (SELECT i.product_id, i.quantity - o.quantity AS left_over FROM cart_items i JOIN unnest('{CAFE-250,THE-100,SUCRE-1}'::text[], '{2,2,2}'::int4[]) AS o(product_id, quantity) USING (product_id) WHERE i.client_id = :cid AND EXISTS (SELECT 1 FROM cart) FOR UPDATE OF i), lowered AS (UPDATE cart_items i SET quantity = t.left_over FROM took t WHERE i.client_id = :cid AND i.product_id = t.product_id AND t.left_over > 0 RETURNING i.product_id), removed AS (DELETE FROM cart_items i USING took t WHERE i.client_id = :cid AND i.product_id = t.product_id AND t.left_over <= 0 RETURNING i.product_id), touched AS (UPDATE carts SET updated_at = now() WHERE client_id = :cid AND EXISTS (SELECT 1 FROM lowered UNION ALL SELECT 1 FROM removed) RETURNING client_id) SELECT count(*) AS applied FROM applied;
DELETE FROM cart_clears WHERE order_id = :oid;
SELECT c.order_id, c.client_id, array_agg(l.product_id ORDER BY l.position) AS product_ids, array_agg(l.quantity ORDER BY l.position) AS quantities FROM cart_clears c JOIN order_lines l USING (order_id) GROUP BY c.order_id, c.client_id, c.created_at ORDER BY c.created_at LIMIT 5;
SELECT id, seq, client_id, status, total_cents, currency, created_at AT TIME ZONE 'UTC' AS created_at, cancelled_at AT TIME ZONE 'UTC' AS cancelled_at FROM orders WHERE id = :oid;
SELECT order_id, product_id, name, unit_price_cents, quantity, line_total_cents FROM order_lines WHERE order_id = ANY(ARRAY[:oid]::uuid[]) ORDER BY order_id, position;
