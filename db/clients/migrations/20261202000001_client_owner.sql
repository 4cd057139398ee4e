-- Who a client record belongs to: the id of the identity (token issuer and
-- subject, see components/kit/src/auth.rs `owner_id`) that created it.
-- NULL for records created by staff (and for those made before
-- authentication), which only staff reach. One record per identity.
ALTER TABLE clients ADD COLUMN owner_id uuid;
CREATE UNIQUE INDEX clients_owner_key ON clients (owner_id);
