select receive_count from messages where id = $1
