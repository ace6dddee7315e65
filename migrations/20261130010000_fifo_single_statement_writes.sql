-- FIFO sends and deletes each take one statement (see `store::fifo_send` and `store::fifo`).
--
-- A send enqueues the messages whose deduplication keys its snapshot does not hold, then
-- records their keys with their sequence numbers. A key that a concurrent send took after
-- the snapshot was read is found by the insert's `on conflict`, which then writes a negative
-- sequence number: this check fails the whole statement (nothing of it is kept), and the send
-- runs again with a snapshot that holds the key.
alter table fifo_dedup
    add constraint fifo_dedup_taken check (sequence_number >= 0);

-- A delete that leaves a group without messages marks its row `ready_at = 'infinity'`
-- instead of deleting it: never claimed, revived by the next send to the group (or a
-- dead-letter move or redrive into it), and otherwise deleted by the sweeper.
create index fifo_groups_empty on fifo_groups (queue_id) where ready_at = 'infinity';
