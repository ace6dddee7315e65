-- What the SQS API keeps about queues and messages beyond the engine's own settings: tags,
-- access and redrive-allow policies, the last purge, and message system attributes.

-- Cost-allocation tags of a queue (SQS TagQueue / ListQueueTags). Keys are case-sensitive.
create table queue_tags (
    queue_id bigint not null references queues (id) on delete cascade,
    key      text not null,
    value    text not null,
    primary key (queue_id, key)
);

-- Policies stored as the JSON text the client set, returned verbatim. `policy` is SQS's
-- resource policy (kept for compatibility, not enforced: Spool's token scopes decide access);
-- `redrive_allow_policy` says which source queues may use this queue as their dead-letter queue.
create table queue_policies (
    queue_id             bigint primary key references queues (id) on delete cascade,
    policy               text,
    redrive_allow_policy text
);

-- When each queue was last purged: SQS allows one purge per queue every 60 seconds.
create table queue_purges (
    queue_id   bigint primary key references queues (id) on delete cascade,
    purged_at  timestamptz not null
);

-- System attributes a sender set on a message (SQS `AWSTraceHeader`), keyed by the public
-- message id, which a message keeps across dead-letter moves and redrives. Rare, so kept out of
-- the hot `messages` rows; rows outlive their message by at most the longest retention (14 days)
-- and are swept by age.
create table message_system_attributes (
    message_id uuid primary key,
    attributes jsonb not null,
    created_at timestamptz not null default now()
);

create index message_system_attributes_created_at on message_system_attributes (created_at);
