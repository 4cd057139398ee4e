-- What panier knows of a cart's client, so that it asks the clients service
-- once per cart instead of on every operation:
--   verified  — the clients service confirmed the client when the row was
--               written (set by the first add, or by an operation that
--               asked clients);
--   gone      — a tombstone: the clients service deleted the client and told
--               panier (`POST /panier/{id}/forget`); the lines are gone and
--               every cart route answers 404. It lives in the cart row itself
--               so that an add racing the deletion meets it inside its own
--               upsert (same key, same row lock) and never recreates the cart;
--   unchecked — rows written before this migration: asked once more.
ALTER TABLE carts
    ADD COLUMN client_status text NOT NULL DEFAULT 'unchecked'
        CHECK (client_status IN ('unchecked', 'verified', 'gone'));
