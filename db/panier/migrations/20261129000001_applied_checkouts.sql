-- Orders whose lines were already removed from their cart: a checkout is
-- applied once per order, however often commande's outbox retries it.
CREATE TABLE applied_checkouts (
    order_id    uuid        PRIMARY KEY,
    client_id   uuid        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
