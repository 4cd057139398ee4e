-- Customers. `seq` orders keyset pagination; ids are random UUIDs.
CREATE TABLE clients (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    phone       text,
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One client per email, whatever its case.
CREATE UNIQUE INDEX clients_email_key ON clients (lower(email));
