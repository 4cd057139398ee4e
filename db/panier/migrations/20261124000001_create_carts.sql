-- Shopping carts: one per client, created on first use. The client lives
-- in the clients service; its existence is checked through it, not here.
CREATE TABLE carts (
    client_id   uuid        PRIMARY KEY,
    currency    text        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Cart lines; `seq` keeps the order items were first added in.
CREATE TABLE cart_items (
    client_id        uuid    NOT NULL REFERENCES carts (client_id) ON DELETE CASCADE,
    product_id       text    NOT NULL CHECK (length(product_id) BETWEEN 1 AND 64),
    name             text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 1000000000),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    seq              bigint  GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (client_id, product_id)
);
