#!/bin/bash
# docker/init-master.sh — first-start initialisation of the master (db1), run once by the
# mariadb image's entrypoint from /docker-entrypoint-initdb.d/ while its temporary server
# runs. Creates the test database and the users the sandbox has (tests/sandbox/sandbox.py):
# app (application), monitor (rwproxy's monitor), repl (replication). Everything goes to the
# binlog, so the replicas get it by replicating from the first GTID. Passwords come from the
# environment (docker-compose.yml) with the sandbox's values as defaults.
set -euo pipefail

APP_PW="${RWP_APP_PASSWORD:-app_pw}"
MONITOR_PW="${RWP_MONITOR_PASSWORD:-monitor_pw}"
REPL_PW="${RWP_REPL_PASSWORD:-repl_pw}"

MYSQL_PWD="${MARIADB_ROOT_PASSWORD}" mariadb --protocol=socket -uroot <<SQL
-- Anonymous accounts would shadow app@'%' for local logins; removed here only (the
-- replicas remove their own), since their host names differ per container.
SET SESSION sql_log_bin = 0;
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
SET SESSION sql_log_bin = 1;
-- No replica is connected yet: do not wait for semi-sync acknowledgements.
SET GLOBAL rpl_semi_sync_master_enabled = OFF;
CREATE DATABASE IF NOT EXISTS test;
CREATE USER 'app'@'%' IDENTIFIED BY '${APP_PW}';
GRANT ALL PRIVILEGES ON \`test\`.* TO 'app'@'%';
GRANT ALL PRIVILEGES ON \`test\\_%\`.* TO 'app'@'%';
GRANT PROCESS ON *.* TO 'app'@'%';
CREATE USER 'monitor'@'%' IDENTIFIED BY '${MONITOR_PW}';
-- As in the sandbox: promotion, repointing, switchover (FLUSH TABLES WITH READ LOCK,
-- killing connections) and drills (SHUTDOWN, reading the marker table) need a lot.
GRANT ALL PRIVILEGES ON *.* TO 'monitor'@'%';
CREATE USER 'repl'@'%' IDENTIFIED BY '${REPL_PW}';
GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR ON *.* TO 'repl'@'%';
SET GLOBAL rpl_semi_sync_master_enabled = ON;
SQL
