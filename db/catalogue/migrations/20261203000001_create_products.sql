-- The catalogue: what is sold, at what price, and how many are left.
-- `stock` is the quantity available now: a reservation takes its units off
-- in the same transaction that records it, a release gives them back, so
-- stock can never be sold twice nor go below zero.
CREATE TABLE products (
    sku          text        PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
    seq          bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    price_cents  bigint      NOT NULL CHECK (price_cents BETWEEN 0 AND 1000000000),
    currency     text        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    stock        integer     NOT NULL CHECK (stock >= 0),
    active       boolean     NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_active_seq ON products (seq) WHERE active;

-- The stock an order holds, keyed by the order's id (commande's): 'held'
-- while the order lives, 'released' once it was cancelled or refused. A
-- release of an order that holds nothing leaves a 'released' row too, so
-- that a reservation arriving after it (a placement commande already gave
-- up on) is refused instead of holding stock no order claims.
CREATE TABLE reservations (
    order_id     uuid        PRIMARY KEY,
    status       text        NOT NULL CHECK (status IN ('held', 'released')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz
);

CREATE TABLE reservation_lines (
    order_id  uuid    NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    sku       text    NOT NULL REFERENCES products (sku),
    quantity  integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX reservation_lines_sku ON reservation_lines (sku);

-- Reserves the lines of order `p_order` at the prices the customer was
-- shown, all or nothing, in one statement (one transaction). Rows out:
--   ('held' | 'released', NULL, ...)  the order already has a reservation
--                                     (a replay: nothing more is taken);
--   ('price-changed', sku, price, stock, name) per line whose price moved;
--   ('out-of-stock', sku, price, stock, name)  per line not available
--                                     (unknown, inactive, or too few left);
--   ('reserved', NULL, ...)           the stock is taken now.
-- Products are locked in SKU order, so two reservations never deadlock.
CREATE FUNCTION reserve_stock(p_order uuid, p_skus text[], p_quantities integer[], p_prices bigint[])
RETURNS TABLE (outcome text, sku text, price_cents bigint, stock integer, name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- The order's row first: a concurrent reservation of the same order
    -- waits here, then finds it.
    INSERT INTO reservations AS r (order_id, status) VALUES (p_order, 'held')
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT r.status, NULL::text, NULL::bigint, NULL::integer, NULL::text
                     FROM reservations r WHERE r.order_id = p_order;
        RETURN;
    END IF;
    PERFORM 1 FROM products p WHERE p.sku = ANY (p_skus) ORDER BY p.sku FOR UPDATE;
    RETURN QUERY
        SELECT 'price-changed'::text, p.sku, p.price_cents, p.stock, p.name
        FROM unnest(p_skus, p_prices) AS w(sku, price) JOIN products p ON p.sku = w.sku
        WHERE p.active AND p.price_cents <> w.price ORDER BY p.sku;
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT 'out-of-stock'::text, w.sku, p.price_cents, coalesce(p.stock, 0), p.name
            FROM unnest(p_skus, p_quantities) AS w(sku, quantity)
            LEFT JOIN products p ON p.sku = w.sku
            WHERE p.sku IS NULL OR NOT p.active OR p.stock < w.quantity ORDER BY w.sku;
    END IF;
    IF FOUND THEN
        DELETE FROM reservations r WHERE r.order_id = p_order;
        RETURN;
    END IF;
    INSERT INTO reservation_lines (order_id, sku, quantity)
        SELECT p_order, w.sku, w.quantity FROM unnest(p_skus, p_quantities) AS w(sku, quantity);
    UPDATE products p SET stock = p.stock - w.quantity
        FROM unnest(p_skus, p_quantities) AS w(sku, quantity) WHERE p.sku = w.sku;
    RETURN QUERY SELECT 'reserved'::text, NULL::text, NULL::bigint, NULL::integer, NULL::text;
END;
$$;

-- Gives back the stock order `p_order` holds, once: 'released' when this
-- call gave it back, 'already' when it was given back before, 'void' when
-- the order held nothing (and from now on can hold nothing).
CREATE FUNCTION release_stock(p_order uuid) RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    LOOP
        UPDATE reservations r SET status = 'released', released_at = now()
        WHERE r.order_id = p_order AND r.status = 'held';
        IF FOUND THEN
            PERFORM 1 FROM products p
                WHERE p.sku IN (SELECT l.sku FROM reservation_lines l WHERE l.order_id = p_order)
                ORDER BY p.sku FOR UPDATE;
            UPDATE products p SET stock = p.stock + l.quantity
                FROM reservation_lines l WHERE l.order_id = p_order AND p.sku = l.sku;
            RETURN 'released';
        END IF;
        INSERT INTO reservations (order_id, status, released_at) VALUES (p_order, 'released', now())
        ON CONFLICT (order_id) DO NOTHING;
        IF FOUND THEN
            RETURN 'void';
        END IF;
        -- The row exists: released before, or held by a reservation that
        -- committed after this call's update looked (then release it).
        PERFORM 1 FROM reservations r WHERE r.order_id = p_order AND r.status = 'released';
        IF FOUND THEN
            RETURN 'already';
        END IF;
    END LOOP;
END;
$$;
