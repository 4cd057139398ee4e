//! The clients table: every statement the service runs, parameterised.

use comptoir_kit::Problem;
use comptoir_kit::db::{
    self, DbTime, DbUuid, column, opt_text_param, opt_uuid_param, text_param, uuid_param,
};
use comptoir_kit::page::{Page, PageRequest};
use spin_sdk::pg::{Connection, ParameterValue, Row};
use uuid::Uuid;

use crate::domain::{Client, ClientFields};

/// The columns of an answer, each cast to the type the component decodes:
/// a statement either fails as a whole or its answer decodes, so a write
/// needs no transaction around it to never be left behind by a 5xx.
fn columns() -> String {
    format!(
        "id, name::text AS name, email::text AS email, phone::text AS phone, \
         address::text AS address, owner_id, {}, {}, seq",
        db::utc("created_at"),
        db::utc("updated_at")
    )
}

fn client(row: &Row) -> Result<(i64, Client), Problem> {
    Ok((
        column::<i64>(row, "seq")?,
        Client {
            id: column::<DbUuid>(row, "id")?.0,
            name: column(row, "name")?,
            email: column(row, "email")?,
            phone: column(row, "phone")?,
            address: column(row, "address")?,
            owner_id: column::<Option<DbUuid>>(row, "owner_id")?.map(|o| o.0),
            created_at: column::<DbTime>(row, "created_at")?.0,
            updated_at: column::<DbTime>(row, "updated_at")?.0,
        },
    ))
}

fn fields_params(fields: &ClientFields) -> [ParameterValue; 4] {
    [
        text_param(&fields.name),
        text_param(&fields.email),
        opt_text_param(fields.phone.as_deref()),
        opt_text_param(fields.address.as_deref()),
    ]
}

/// A duplicate email, or a second record for one identity, becomes 409;
/// other errors the usual way.
fn write_error(error: spin_sdk::pg::Error) -> Problem {
    if db::sqlstate(&error) != Some(db::UNIQUE_VIOLATION) {
        return db::problem(error);
    }
    if error.to_string().contains("clients_owner_key") {
        Problem::conflict("you already have a client record (GET /clients/me)")
    } else {
        Problem::conflict("a client with this email already exists")
    }
}

/// The condition that row `clients` is reachable under scope parameter
/// `$n` (NULL: every row; else only rows of that owner).
fn reachable(n: usize) -> String {
    format!("(${n}::uuid IS NULL OR owner_id = ${n}::uuid)")
}

async fn one(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Option<Client>, Problem> {
    let rows = db::rows_or(db, sql, params, write_error).await?;
    rows.first().map(|r| client(r).map(|(_, c)| c)).transpose()
}

/// Inserts a client belonging to `owner` (`None`: made by staff).
pub async fn insert(
    db: &Connection,
    fields: &ClientFields,
    owner: Option<Uuid>,
) -> Result<Client, Problem> {
    let sql = format!(
        "INSERT INTO clients (name, email, phone, address, owner_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {}",
        columns()
    );
    let mut params = fields_params(fields).to_vec();
    params.push(opt_uuid_param(owner));
    // One statement: its answer's types are pinned by `columns`.
    one(db, &sql, params)
        .await?
        .ok_or_else(|| Problem::internal("insert returned no row"))
}

/// Client `id`, if `scope` reaches it (`None`: staff, every client).
pub async fn get(
    db: &Connection,
    id: Uuid,
    scope: Option<Uuid>,
) -> Result<Option<Client>, Problem> {
    let sql = format!(
        "SELECT {} FROM clients WHERE id = $1 AND {}",
        columns(),
        reachable(2)
    );
    one(db, &sql, vec![uuid_param(id), opt_uuid_param(scope)]).await
}

/// The client record of identity `owner`.
pub async fn of_owner(db: &Connection, owner: Uuid) -> Result<Option<Client>, Problem> {
    let sql = format!("SELECT {} FROM clients WHERE owner_id = $1", columns());
    one(db, &sql, vec![uuid_param(owner)]).await
}

pub async fn replace(
    db: &Connection,
    id: Uuid,
    fields: &ClientFields,
    scope: Option<Uuid>,
) -> Result<Option<Client>, Problem> {
    let sql = format!(
        "UPDATE clients SET name = $2, email = $3, phone = $4, address = $5, updated_at = now() \
         WHERE id = $1 AND {} RETURNING {}",
        reachable(6),
        columns()
    );
    let mut params = vec![uuid_param(id)];
    params.extend(fields_params(fields));
    params.push(opt_uuid_param(scope));
    db::transaction(db, async |db| one(db, &sql, params).await).await
}

/// What deleting a client did, and which carts panier must still forget.
pub struct Deletion {
    /// Whether this statement deleted the client (`false`: there was none).
    pub deleted: bool,
    /// Clients whose cart is still to be forgotten: this one if it was
    /// deleted (or is still queued from an earlier deletion), and up to a
    /// few older ones queued by earlier deletions that could not reach
    /// panier.
    pub to_forget: Vec<Uuid>,
}

/// Most cart forgets one deletion retries beside its own.
const FORGETS_PER_REQUEST: i64 = 4;

/// Deletes the client (if `scope` reaches it) and queues "forget its
/// cart" for panier, in one statement; returns what is queued (see
/// [`Deletion`]).
pub async fn delete(db: &Connection, id: Uuid, scope: Option<Uuid>) -> Result<Deletion, Problem> {
    let rows = db::rows(
        db,
        "WITH gone AS ( \
                 DELETE FROM clients WHERE id = $1 \
                 AND ($3::uuid IS NULL OR owner_id = $3::uuid) RETURNING id), \
             queued AS ( \
                 INSERT INTO cart_forgets (client_id) SELECT id FROM gone \
                 ON CONFLICT (client_id) DO NOTHING RETURNING client_id) \
             SELECT client_id, true AS deleted FROM queued \
             UNION ALL \
             (SELECT client_id, false AS deleted FROM cart_forgets \
              ORDER BY created_at LIMIT $2)",
        vec![
            uuid_param(id),
            ParameterValue::Int64(FORGETS_PER_REQUEST + 1),
            opt_uuid_param(scope),
        ],
    )
    .await?;
    let mut deletion = Deletion {
        deleted: false,
        to_forget: Vec::new(),
    };
    for row in &rows {
        deletion.deleted |= column::<bool>(row, "deleted")?;
        let client = column::<DbUuid>(row, "client_id")?.0;
        if !deletion.to_forget.contains(&client) {
            deletion.to_forget.push(client);
        }
    }
    Ok(deletion)
}

/// Panier forgot the carts of `clients`: their queued rows go.
pub async fn forgotten(db: &Connection, clients: &[Uuid]) -> Result<(), Problem> {
    if clients.is_empty() {
        return Ok(());
    }
    db.execute(
        "DELETE FROM cart_forgets WHERE client_id = ANY($1::text[]::uuid[])",
        vec![ParameterValue::ArrayStr(
            clients.iter().map(|c| Some(c.to_string())).collect(),
        )],
    )
    .await
    .map_err(db::problem)?;
    Ok(())
}

pub async fn list(db: &Connection, page: PageRequest) -> Result<Page<Client>, Problem> {
    let sql = format!(
        "SELECT {} FROM clients WHERE seq > $1 ORDER BY seq LIMIT $2",
        columns()
    );
    let rows = db::rows(
        db,
        sql,
        vec![
            ParameterValue::Int64(page.after),
            ParameterValue::Int64(page.fetch_limit()),
        ],
    )
    .await?;
    let rows = rows.iter().map(client).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(page, rows))
}
