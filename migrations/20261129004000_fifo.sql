-- FIFO queues (strict order per message group, deduplication) and fair standard queues.
--
-- A FIFO queue's messages live in `messages` like any other, tagged with their group; their
-- row id is the sequence number (ids are taken while the group's row is locked, so they grow
-- in commit order within a group). Which group may deliver next is kept per group in
-- `fifo_groups`, so a receive never aggregates over the queue's messages.

-- The queue type is fixed at creation; the other three are SQS's FIFO attributes.
alter table queues
    add column fifo                        boolean not null default false,
    add column content_based_deduplication boolean not null default false,
    -- 'queue' or 'messageGroup': where a deduplication id must be unique.
    add column deduplication_scope         text not null default 'queue'
        check (deduplication_scope in ('queue', 'messageGroup')),
    -- 'perQueue' or 'perMessageGroupId' (accepted and reported; Spool has no throughput cap).
    add column fifo_throughput_limit       text not null default 'perQueue'
        check (fifo_throughput_limit in ('perQueue', 'perMessageGroupId'));

-- Null on standard queues' messages.
alter table messages
    add column group_id text,
    add column dedup_id text;

-- A group's messages in send order (row id); only FIFO rows carry a group.
create index messages_fifo_group on messages (queue_id, group_id, id) where group_id is not null;

-- One row per FIFO group that holds messages. `ready_at` is when the group may deliver again:
-- the head's visibility when nothing is in flight, the end of the in-flight batch's visibility
-- timeout otherwise. A receive claims groups with `ready_at <= now()` (skip locked), takes
-- messages from their heads, and sets `ready_at` again; deletes and visibility changes
-- recompute it from the group's first messages while holding the group's row lock. A group
-- whose last message is gone loses its row.
create table fifo_groups (
    queue_id bigint not null references queues (id) on delete cascade,
    group_id text not null,
    ready_at timestamptz not null,
    primary key (queue_id, group_id)
) with (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);

create index fifo_groups_ready on fifo_groups (queue_id, ready_at);

-- Deduplication ids seen in the last five minutes (kept after the message is deleted; purge
-- clears them). `scope` is '' for queue scope and the group id for message-group scope.
create table fifo_dedup (
    queue_id        bigint not null references queues (id) on delete cascade,
    scope           text not null,
    dedup_id        text not null,
    message_id      uuid not null,
    sequence_number bigint not null,
    expires_at      timestamptz not null,
    primary key (queue_id, scope, dedup_id)
);

create index fifo_dedup_expires_at on fifo_dedup (expires_at);

-- Receives retried with the same ReceiveRequestAttemptId within five minutes get the same
-- deliveries back while those are still in flight.
create table fifo_receive_attempts (
    queue_id    bigint not null references queues (id) on delete cascade,
    attempt_id  text not null,
    row_ids     bigint[] not null,
    generations integer[] not null,
    expires_at  timestamptz not null,
    primary key (queue_id, attempt_id)
);

create index fifo_receive_attempts_expires_at on fifo_receive_attempts (expires_at);

-- Fair standard queues: each group's virtual clock. A message of a group is stamped visible at
-- max(clock, now - horizon), at most now, and the clock advances a second per message, so a
-- quiet group's message sorts ahead of a busy group's backlog in the claim index while every
-- stamp stays in the past (visible at once). Rows whose clock fell behind the horizon are
-- equivalent to no row and are swept.
create table fair_groups (
    queue_id bigint not null references queues (id) on delete cascade,
    group_id text not null,
    clock    timestamptz not null,
    primary key (queue_id, group_id)
);

create index fair_groups_clock on fair_groups (clock);
