-- FIFO sends and deletes each take one statement (see `store::fifo_send` and `store::fifo`).
--
-- A send enqueues the messages whose deduplication keys its snapshot does not hold, then
-- records their keys with their sequence numbers. A key that a concurrent send took after
-- the snapshot was read is found by the insert's `on conflict`, which then writes a negative
-- sequence number: this check fails the whole statement (nothing of it is kept), and the send
-- runs again with a snapshot that holds the key.
alter table fifo_dedup
    add constraint fifo_dedup_taken check (sequence_number >= 0);
