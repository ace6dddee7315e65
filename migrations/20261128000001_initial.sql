-- Spool's whole schema: accounts own queues, queues own messages, all in one set of tables keyed by
-- queue (never a table per queue), so every statement is static SQL and one plan serves all queues.

create table accounts (
    -- SQS's 12-digit account id; it appears in queue URLs and ARNs.
    id         bigint primary key check (id between 0 and 999999999999),
    name       text not null unique,
    created_at timestamptz not null default now()
);

-- Until API tokens exist every request acts as this account.
insert into accounts (id, name) values (0, 'default');

-- Secrets shared by every Spool node on this database (e.g. the receipt-handle HMAC key).
-- Created on first start by the server, never rotated implicitly.
create table server_secrets (
    name       text primary key,
    secret     bytea not null,
    created_at timestamptz not null default now()
);

create table queues (
    id                    bigint generated always as identity primary key,
    account_id            bigint not null references accounts (id) on delete cascade,
    name                  text not null,
    visibility_timeout    integer not null,
    delay_seconds         integer not null,
    retention_seconds     integer not null,
    max_message_bytes     integer not null,
    receive_wait_seconds  integer not null,
    -- Dead-letter target: messages whose next receive would exceed max_receive_count move there.
    -- Deleting the target detaches it instead of failing.
    dead_letter_queue_id  bigint references queues (id) on delete set null,
    max_receive_count     integer,
    -- Back pressure: sends are refused with 429 while the queue holds this many messages.
    max_depth             bigint,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    constraint queues_account_name_key unique (account_id, name),
    constraint queues_dead_letter_pair check ((dead_letter_queue_id is null) = (max_receive_count is null))
);

create index queues_dead_letter_queue_id on queues (dead_letter_queue_id) where dead_letter_queue_id is not null;

-- One row per message that is waiting, delayed or in flight. Deleting a message deletes its row.
-- Hot columns are fixed-width and first; the body follows and is only copied by reference on
-- claim updates once it is large enough to be toasted.
create table messages (
    queue_id          bigint not null references queues (id) on delete cascade,
    -- Internal row id: a moved message (dead-letter, redrive) gets a new one, so receipt handles
    -- issued before the move can never touch the moved copy.
    id                bigint generated always as identity,
    -- The single predicate of the claim: waiting (<= now), delayed or in flight (> now).
    visible_at        timestamptz not null,
    -- Deliveries so far; also the generation a receipt handle is checked against.
    receive_count     integer not null default 0,
    sent_at           timestamptz not null,
    first_received_at timestamptz,
    -- The public message id, kept across dead-letter moves and redrives.
    message_id        uuid not null,
    -- Queue a dead-lettered message came from (null for messages sent directly).
    source_queue_id   bigint,
    body              text not null,
    attributes        jsonb,
    primary key (queue_id, id)
) with (
    fillfactor = 80,
    -- Every receive and delete leaves a dead tuple at the head of the claim index; vacuum early
    -- and often by absolute count rather than by table fraction.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- The claim index: a receive walks (queue_id, visible_at <= now()) left to right, so delayed and
-- in-flight rows (visible_at in the future) are never scanned.
create index messages_claim on messages (queue_id, visible_at, id);

-- Retention sweeps and redrive walk messages oldest first.
create index messages_sent on messages (queue_id, sent_at, id);

-- Redrive ("message move") tasks from a dead-letter queue. Progress is committed in the same
-- transaction as each moved batch, so a crash mid-way neither loses nor duplicates messages.
create table move_tasks (
    id                    uuid primary key,
    account_id            bigint not null references accounts (id) on delete cascade,
    source_queue_id       bigint not null references queues (id) on delete cascade,
    -- Null: each message returns to the queue it was dead-lettered from.
    destination_queue_id  bigint references queues (id) on delete cascade,
    -- Messages per second; null means as fast as the mover runs.
    max_per_second        integer,
    status                text not null default 'running'
                          check (status in ('running', 'completed', 'cancelled', 'failed')),
    -- Only messages that were in the source when the task started move (row ids up to this one).
    last_row_id           bigint not null,
    to_move               bigint not null,
    moved                 bigint not null default 0,
    failure_reason        text,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);

create index move_tasks_running on move_tasks (source_queue_id) where status = 'running';
