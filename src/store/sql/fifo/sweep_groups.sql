delete from fifo_groups
where ctid = any(array(select ctid from fifo_groups where ready_at = 'infinity' limit $1))
  and ready_at = 'infinity'
