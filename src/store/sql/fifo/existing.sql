select id from messages where id = any($1::bigint[])
