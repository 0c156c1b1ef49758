#!/bin/bash
# docker/init-replica.sh — first-start initialisation of a replica (db2, db3), run once by the
# mariadb image's entrypoint from /docker-entrypoint-initdb.d/. Points the replica at the
# master with GTID (MASTER_USE_GTID=slave_pos from an empty position, so it replicates
# everything the master logged, users included) and starts replication; the real server
# started after initialisation resumes it. Nothing here is written to the replica's own
# binlog, so gtid_strict_mode sees no local transactions.
set -euo pipefail

MASTER_HOST="${RWP_MASTER_HOST:-db1}"
MASTER_PORT="${RWP_MASTER_PORT:-3306}"
REPL_PW="${RWP_REPL_PASSWORD:-repl_pw}"

MYSQL_PWD="${MARIADB_ROOT_PASSWORD}" mariadb --protocol=socket -uroot <<SQL
SET SESSION sql_log_bin = 0;
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
SET GLOBAL read_only = ON;
RESET MASTER;
SET GLOBAL gtid_slave_pos = '';
CHANGE MASTER TO MASTER_HOST='${MASTER_HOST}', MASTER_PORT=${MASTER_PORT},
  MASTER_USER='repl', MASTER_PASSWORD='${REPL_PW}',
  MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
