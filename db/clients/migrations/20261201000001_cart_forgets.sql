-- Outbox: deleted clients whose cart panier has not yet removed. A row is
-- written by the statement that deletes the client and deleted once panier
-- confirms (`POST /panier/{id}/forget`), so a failed call is retried on
-- later deletions, never lost.
CREATE TABLE cart_forgets (
    client_id   uuid        PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);
