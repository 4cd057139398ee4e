-- Two-phase fleet deploys: before a version becomes the desired one, every
-- gateway fetches, verifies and prepares it, and says so here (`ok`), or
-- says why it cannot (`reason`). A row asks the other gateways to do the
-- same; the deploy goes ahead only if none refused.
CREATE TABLE staging (
    component text NOT NULL,
    digest    text NOT NULL REFERENCES artifacts,
    gateway   text NOT NULL,
    ok        boolean NOT NULL,
    reason    text,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, digest, gateway)
);
CREATE INDEX staging_recent ON staging (at);
