-- Per-queue durability: relaxed queues commit their writes with synchronous_commit = off
-- (acknowledged writes of the last moments may be lost if PostgreSQL itself crashes).
alter table queues add column relaxed_durability boolean not null default false;
