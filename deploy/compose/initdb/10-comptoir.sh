#!/bin/bash
# First start of the database container: one role and one database per
# service and one for the fleet's control database (`control`), each role owning only its database (the passwords come from the
# environment, i.e. .env). Run by the official postgres image and by
# deploy/images/postgres alike, as the postgres user, before the server
# listens on TCP.
#
# It runs only when the data volume is empty: a volume made before the
# catalogue service existed lacks its database. Add it once, e.g.
#   docker compose exec db psql -U postgres -v ON_ERROR_STOP=1 \
#     -c "CREATE ROLE catalogue LOGIN PASSWORD '<CATALOGUE_DB_PASSWORD of .env>'" \
#     -c 'CREATE DATABASE catalogue OWNER catalogue' \
#     -c 'REVOKE ALL ON DATABASE catalogue FROM PUBLIC'
set -euo pipefail

for service in clients panier commande catalogue control; do
  password_var="${service^^}_DB_PASSWORD"
  password="${!password_var:?$password_var is not set}"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       --set name="$service" --set password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "comptoir: database $service and its role created"
done
