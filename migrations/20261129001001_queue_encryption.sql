-- SQS server-side encryption attributes, stored and returned so infrastructure code that sets
-- them runs. Spool does not encrypt with KMS: data at rest is protected by the database's
-- storage. A queue without a row has SQS's default, SqsManagedSseEnabled = true.
create table queue_encryption (
    queue_id                          bigint primary key references queues (id) on delete cascade,
    -- Null: no KMS key (SSE-SQS or no encryption).
    kms_master_key_id                 text,
    -- Null: SQS's default (300 s).
    kms_data_key_reuse_period_seconds integer,
    -- Null: SQS's default (true without a KMS key).
    sqs_managed_sse_enabled           boolean
);
