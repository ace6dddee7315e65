select exists (select 1 from messages where id = $1 and receive_count = $2) as "current!"
