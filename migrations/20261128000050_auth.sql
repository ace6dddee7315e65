-- API tokens and the keys that sign them.
--
-- Nothing here is a working credential on its own: JWT signing keys and SigV4 secrets are
-- derived from a random salt (or key id) and the server's master key, which lives in the
-- server's configuration, never in the database. A dump of these tables cannot forge tokens.

create table signing_keys (
    -- The `kid` header of tokens signed with this key.
    kid        text primary key,
    salt       bytea not null,
    created_at timestamptz not null default now(),
    -- Retired keys no longer verify; the newest unretired key signs.
    retired_at timestamptz
);

create table api_tokens (
    id             uuid primary key,
    account_id     bigint not null references accounts (id) on delete cascade,
    name           text not null,
    -- Grants such as `admin`, `messages:send` or `messages:send:orders-*`.
    scopes         text[] not null,
    -- The SigV4 access key id of this token; its secret is derived, never stored.
    access_key_id  text not null unique,
    created_at     timestamptz not null default now(),
    expires_at     timestamptz,
    revoked_at     timestamptz
);

create index api_tokens_account on api_tokens (account_id, created_at);
