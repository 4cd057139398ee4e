-- The control database of a fleet of comptoir gateways (`--control-url`):
-- the versions every gateway can fetch, the desired version and canary of
-- each component, and what each gateway runs. `comptoir migrate` applies it.

-- A component version, by the sha256 of its .wasm: held here (`content`)
-- or in an OCI registry (`reference`, pulled by digest and verified).
CREATE TABLE artifacts (
    digest     text PRIMARY KEY CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    size       bigint NOT NULL CHECK (size > 0),
    content    bytea,
    reference  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (content IS NOT NULL OR reference IS NOT NULL)
);

-- The version every gateway should run. No row: each runs its manifest's.
CREATE TABLE desired (
    component  text PRIMARY KEY,
    digest     text NOT NULL REFERENCES artifacts,
    -- What `comptoir rollback` restores.
    previous   text REFERENCES artifacts,
    -- Bumped by every change, so a gateway knows it has seen the latest.
    generation bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

-- Canaries across the fleet: at most one running per component; decided
-- exactly once (the row is locked by whoever decides).
CREATE TABLE canaries (
    id         bigserial PRIMARY KEY,
    component  text NOT NULL,
    digest     text NOT NULL REFERENCES artifacts,
    stable     text NOT NULL REFERENCES artifacts,
    share      smallint NOT NULL CHECK (share BETWEEN 1 AND 99),
    state      text NOT NULL DEFAULT 'running'
               CHECK (state IN ('running', 'promoted', 'rolled_back')),
    reason     text,
    manual     boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    decided_by text
);
CREATE UNIQUE INDEX canaries_one_running ON canaries (component) WHERE state = 'running';

-- What each gateway's share of a canary answered, summed by the judge.
CREATE TABLE canary_counts (
    canary         bigint NOT NULL REFERENCES canaries ON DELETE CASCADE,
    gateway        text NOT NULL,
    side           text NOT NULL CHECK (side IN ('stable', 'canary')),
    requests       bigint NOT NULL,
    server_errors  bigint NOT NULL,
    client_errors  bigint NOT NULL,
    traps          bigint NOT NULL,
    deadline_kills bigint NOT NULL,
    -- Requests per latency bucket (the canary judge's histogram).
    latency        bigint[] NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (canary, gateway, side)
);

-- Every gateway, as it last reported itself.
CREATE TABLE gateways (
    name         text PRIMARY KEY,
    admin_url    text,
    started_at   timestamptz NOT NULL,
    seen_at      timestamptz NOT NULL,
    -- component -> digest it serves
    running      jsonb NOT NULL DEFAULT '{}',
    -- component -> {digest, reason}: a desired version it refused
    refused      jsonb NOT NULL DEFAULT '{}',
    -- When it last ran every desired version (NULL: not yet).
    converged_at timestamptz
);
