-- R-A3: API tokens per tenant, created over the API (the secret shown once, only its sha256
-- stored), with a name, a displayable prefix, scopes and revocation.
ALTER TABLE ledger.api_tokens
    ADD COLUMN token_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN name         text NOT NULL DEFAULT 'bootstrap',
    ADD COLUMN prefix       text NOT NULL DEFAULT '',
    ADD COLUMN scopes       text[] NOT NULL DEFAULT '{admin}',
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN revoked_at   timestamptz;
CREATE UNIQUE INDEX api_tokens_id ON ledger.api_tokens (token_id);

-- R-A4: every administrative action, per tenant: who (which token), what, when, before/after.
-- Secrets never reach this table (domain/audit.redact runs before every insert).
CREATE TABLE ledger.audit_log (
    audit_id     bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    actor_token  uuid,            -- the token that acted (NULL: an operator command)
    actor_name   text NOT NULL,
    action       text NOT NULL,   -- e.g. "integration.update", "token.revoke"
    target_type  text NOT NULL,
    target_id    text,
    before       jsonb,
    after        jsonb
);
CREATE INDEX audit_log_tenant ON ledger.audit_log (tenant_id, audit_id DESC);
