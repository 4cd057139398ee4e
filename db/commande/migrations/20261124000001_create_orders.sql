-- Orders. The idempotency key is unique: a replay (even concurrent) can
-- never create a second order.
CREATE TABLE orders (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    seq              bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    client_id        uuid        NOT NULL,
    status           text        NOT NULL DEFAULT 'validated'
                                 CHECK (status IN ('validated', 'cancelled')),
    total_cents      bigint      NOT NULL CHECK (total_cents >= 0),
    currency         text        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    idempotency_key  text        NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    created_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz
);
CREATE INDEX orders_client_seq ON orders (client_id, seq);

-- The lines, copied from the cart when the order was placed.
CREATE TABLE order_lines (
    order_id          uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position          integer NOT NULL,
    product_id        text    NOT NULL,
    name              text    NOT NULL,
    unit_price_cents  bigint  NOT NULL CHECK (unit_price_cents >= 0),
    quantity          integer NOT NULL CHECK (quantity > 0),
    line_total_cents  bigint  NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Outbox: carts still to be cleared after their order committed. A row is
-- written in the order's transaction and deleted once the panier service
-- confirms the clear, so a failed clear is retried, never lost.
CREATE TABLE cart_clears (
    order_id    uuid        PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    client_id   uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0
);
