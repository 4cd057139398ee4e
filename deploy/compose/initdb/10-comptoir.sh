#!/bin/bash
# First start of the database container: one role and one database per
# service, each role owning only its database (the passwords come from the
# environment, i.e. .env). Run by the official postgres image and by
# deploy/images/postgres alike, as the postgres user, before the server
# listens on TCP.
set -euo pipefail

for service in clients panier commande; do
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
