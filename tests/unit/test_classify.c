/*
 * tests/unit/test_classify.c — cmocka tests for router/classify.{h,c}: a table of statements
 * with their expected target, flags (that must / must not be set) and reason, covering every
 * row of the routing design and the tokenizer's tricks (comments, executable comments, strings,
 * quoted identifiers, hints, multi-statements, junk); plus the output fields (USE db, temp
 * names, KILL ids, hinted server), every prefix of every row from an exact-size buffer (no
 * read past len), NUL bytes, random bytes and 1 MB inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/classify.h"

#define M RWR_MASTER
#define RP RWR_REPLICA
#define SV RWR_SERVER
#define PV RWR_PREVIOUS

#define F_W RWR_F_WRITE
#define F_BEGIN RWR_F_TRX_BEGIN
#define F_BEGIN_RO RWR_F_TRX_BEGIN_RO
#define F_END RWR_F_TRX_END
#define F_CHAIN RWR_F_TRX_CHAIN
#define F_AC0 RWR_F_AUTOCOMMIT_OFF
#define F_AC1 RWR_F_AUTOCOMMIT_ON
#define F_IC RWR_F_IMPLICIT_COMMIT
#define F_LOCK RWR_F_LOCK_TABLES
#define F_UNLOCK RWR_F_UNLOCK_TABLES
#define F_XA RWR_F_XA
#define F_MULTI RWR_F_MULTI
#define F_SES RWR_F_SESSION
#define F_UVW RWR_F_USER_VAR_WRITE
#define F_TC RWR_F_TEMP_CREATE
#define F_TD RWR_F_TEMP_DROP
#define F_USE RWR_F_USE_DB
#define F_CALC RWR_F_CALC_FOUND_ROWS
#define F_PREP RWR_F_PREPARE_SQL
#define F_PIN RWR_F_PIN_MASTER
#define F_SETST RWR_F_SET_STATEMENT
#define F_READ RWR_F_READ
#define F_KILL RWR_F_KILL
#define F_REL RWR_F_RELEASE

/* One expectation. */
typedef struct {
    const char *sql;    /* the statement text (NUL-terminated here; classified with strlen) */
    rwr_target target;  /* expected target */
    unsigned flags;     /* flags that must be set */
    unsigned noflags;   /* flags that must not be set */
    const char *reason; /* substring of the reason, or NULL */
} row;

#define R(s, t, f, r) {s, t, f, 0, r}
#define RN(s, t, f, nf, r) {s, t, f, nf, r}

static const row rows[] = {
    /* ---- plain reads -> replica */
    RN("SELECT 1", RP, F_READ, F_MULTI | F_W, "read"),
    R("select * from t", RP, F_READ, "read"),
    R("  SELECT * FROM t WHERE id = 5", RP, F_READ, "read"),
    R("SELECT a, b FROM t1 JOIN t2 ON t1.id = t2.id WHERE x > 3 ORDER BY a LIMIT 10", RP, F_READ, NULL),
    R("(SELECT 1)", RP, F_READ, "read"),
    R("((SELECT a FROM t))", RP, F_READ, NULL),
    R("(SELECT 1) UNION (SELECT 2)", RP, F_READ, NULL),
    R("SELECT 1 UNION ALL SELECT 2", RP, F_READ, NULL),
    R("SELECT a FROM t EXCEPT SELECT a FROM u", RP, F_READ, NULL),
    R("SELECT COUNT(*), SUM(x), MIN(y), MAX(z), AVG(w) FROM t GROUP BY k HAVING COUNT(*) > 1", RP, F_READ, NULL),
    R("SELECT NOW(), CONCAT('a','b'), SUBSTRING(s, 1, 2), IFNULL(a, 0), COALESCE(a,b), DATE_FORMAT(d, '%Y')", RP, F_READ, NULL),
    R("SELECT * FROM (SELECT id FROM t) AS d", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE id IN (SELECT id FROM u)", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", RP, F_READ, NULL),
    R("SELECT CAST(a AS CHAR(10)), CONVERT(b, DECIMAL(10,2)) FROM t", RP, F_READ, NULL),
    R("SELECT * FROM t FORCE INDEX (idx) WHERE a = 1", RP, F_READ, NULL),
    R("SELECT * FROM t USE INDEX (i1) IGNORE INDEX (i2)", RP, F_READ, NULL),
    R("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t", RP, F_READ, NULL),
    R("SELECT SUM(a) OVER w FROM t WINDOW w AS (ORDER BY b)", RP, F_READ, NULL),
    R("SELECT * FROM information_schema.tables", RP, F_READ, NULL),
    R("SELECT * FROM mysql.user", RP, F_READ, NULL),
    R("SELECT @uservar", RP, F_READ, NULL),
    R("SELECT @@session.sql_mode", RP, F_READ, NULL),
    R("SELECT @@sql_mode, @@autocommit, @@session.autocommit", RP, F_READ, NULL),
    R("SELECT TRIM(LEADING 'x' FROM s), EXTRACT(YEAR FROM d), POSITION('a' IN s) FROM t", RP, F_READ, NULL),
    R("SELECT GROUP_CONCAT(a ORDER BY b SEPARATOR ',') FROM t", RP, F_READ, NULL),
    R("SELECT JSON_EXTRACT(doc, '$.a'), JSON_OBJECT('k', 1) FROM t", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE MATCH (a) AGAINST ('x' IN BOOLEAN MODE)", RP, F_READ, NULL),
    R("SELECT a FROM t WHERE d > NOW() - INTERVAL 1 DAY", RP, F_READ, NULL),
    R("SELECT SLEEP(1)", RP, F_READ, NULL),
    R("SELECT RAND(), UUID()", RP, F_READ, NULL),
    R("SELECT DISTINCT a FROM t", RP, F_READ, NULL),
    R("SELECT SQL_NO_CACHE * FROM t", RP, F_READ, NULL),
    R("SELECT /*!40001 SQL_NO_CACHE */ * FROM t", RP, F_READ, NULL),
    R("SELECT * FROM t1, t2 WHERE t1.a = t2.b", RP, F_READ, NULL),
    R("SELECT * FROM t1 LEFT JOIN t2 USING (id)", RP, F_READ, NULL),
    R("SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END FROM t", RP, F_READ, NULL),
    R("SELECT IF(a, b, c) FROM t", RP, F_READ, NULL),
    R("SELECT * FROM t LIMIT 1 OFFSET 5", RP, F_READ, NULL),
    R("SELECT ST_AsText(g), ST_Distance(g, POINT(1, 2)) FROM geo", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE a BETWEEN 1 AND (2)", RP, F_READ, NULL),
    R("SELECT 1 FROM DUAL", RP, F_READ, NULL),
    R("SELECT VERSION(), DATABASE(), USER(), CONNECTION_ID()", RP, F_READ, NULL),
    R("SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'", RP, F_READ, NULL),
    R("SELECT count (*) FROM t", RP, F_READ, NULL),
    R("SELECT `select` FROM `from`", RP, F_READ, NULL),
    R("SELECT `a``b` FROM t", RP, F_READ, NULL),
    R("SELECT a AS `FOR UPDATE` FROM t", RP, F_READ, NULL),
    R("SELECT 1 AS `LAST_INSERT_ID`", RP, F_READ, NULL),
    R("SELECT last_insert_id FROM t", RP, F_READ, NULL),
    R("SELECT found_rows, row_count FROM stats", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE `into` = 1", RP, F_READ, NULL),
    R("SELECT * FROM t1 WHERE a = (SELECT MAX(a) FROM t2)", RP, F_READ, NULL),
    R("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS jt", RP, F_READ, NULL),
    R("SELECT a FROM t ORDER BY a DESC", RP, F_READ, NULL),
    R("SELECT 1 FROM t WHERE (a, b) IN ((1, 2))", RP, F_READ, NULL),
    R("SELECT CURRENT_TIMESTAMP, CURRENT_USER", RP, F_READ, NULL),
    R("SELECT COUNT(DISTINCT a) FROM t", RP, F_READ, NULL),
    R("SELECT (((1)))", RP, F_READ, NULL),
    R("SELECT X'4142', B'01', N'abc', _utf8mb4'x' COLLATE utf8mb4_bin", RP, F_READ, NULL),
    R("SELECT 1e10, 1.5e-3, .5, 0x1F, -2", RP, F_READ, NULL),
    R("SELECT * FROM `db`.`t`", RP, F_READ, NULL),
    R("SELECT t.* FROM db.t AS t", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE a LIKE 'x%' ESCAPE '!'", RP, F_READ, NULL),
    R("SELECT MAX(id) FROM t WHERE a REGEXP '^x'", RP, F_READ, NULL),
    R("SELECT * FROM tmp10", RP, F_READ, NULL),
    R("SELECT 'tmp1' FROM t", RP, F_READ, NULL),
    R("SELECT HIGH_PRIORITY STRAIGHT_JOIN a FROM t", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE id = ? AND b IN (?, ?)", RP, F_READ, NULL),
    R("select @@max_allowed_packet,@@system_time_zone,@@time_zone,@@auto_increment_increment", RP, F_READ, NULL),
    R("SELECT * FROM t PARTITION (p0) WHERE a = 1", RP, F_READ, NULL),
    R("SELECT a FROM t WHERE NOT EXISTS (SELECT 1) AND (b OR (c))", RP, F_READ, NULL),
    R("SELECT JSON_VALUE(j, '$.a') FROM t WHERE j->>'$.b' = 'x'", RP, F_READ, NULL),
    R("SELECT * FROM t ORDER BY id FETCH FIRST 10 ROWS ONLY", RP, F_READ, NULL),
    R("SELECT CONVERT('x' USING utf8mb4), CHAR(65 USING latin1)", RP, F_READ, NULL),
    R("select a from t where b in (select c from u where d = (select max(e) from v))", RP, F_READ, NULL),

    /* ---- strings, comments and trailing semicolons that must not fool the tokenizer */
    RN("select 1;", RP, F_READ, F_MULTI, "read"),
    RN("select 1 ;  -- trailing", RP, F_READ, F_MULTI, "read"),
    RN("select 1; /* c */ ", RP, F_READ, F_MULTI, "read"),
    RN("SELECT 1;;", RP, F_READ, F_MULTI, "read"),
    RN("select 1 ; /* trailing */ ; ", RP, F_READ, F_MULTI, "read"),
    R("SELECT 'FOR UPDATE' FROM t", RP, F_READ, "read"),
    R("SELECT \"FOR UPDATE\"", RP, F_READ, "read"),
    R("SELECT 'LAST_INSERT_ID()'", RP, F_READ, "read"),
    RN("SELECT 'a;b'", RP, F_READ, F_MULTI, "read"),
    RN("SELECT \"; DELETE FROM t\"", RP, F_READ, F_MULTI, "read"),
    R("SELECT 'it''s'", RP, F_READ, "read"),
    R("SELECT \"say \"\"hi\"\"\"", RP, F_READ, "read"),
    R("SELECT 'it\\'s'", RP, F_READ, "read"),
    R("SELECT 'a\\\\' , 'b'", RP, F_READ, "read"),
    R("SELECT 'a\\'s', 'b\\'c'", RP, F_READ, "read"),
    R("SELECT * FROM t WHERE a = 1 AND b = 'INTO @x'", RP, F_READ, NULL),
    R("SELECT * FROM t WHERE a = ':='", RP, F_READ, NULL),
    RN("SELECT 1 -- comment with ; DELETE\n", RP, F_READ, F_MULTI, NULL),
    RN("SELECT 1 # hash ; DROP TABLE t", RP, F_READ, F_MULTI, NULL),
    RN("SELECT 1 /* ; DROP TABLE t */", RP, F_READ, F_MULTI, NULL),
    R("SELECT 1--1", RP, F_READ, NULL),
    R("SELECT 2--1 FROM t", RP, F_READ, NULL),
    R("SELECT 1 -- ", RP, F_READ, NULL),
    R("SELECT 1 --", RP, F_READ, NULL),
    R("SELECT 1 --\tx FOR UPDATE", RP, F_READ, NULL),
    R("SELECT a FROM t WHERE b = 1#comment FOR UPDATE", RP, F_READ, NULL),
    R("SELECT 1 FROM t WHERE a = '*/'", RP, F_READ, NULL),
    R("/*!*/ SELECT 1", RP, F_READ, NULL),
    R("/*!50100 SELECT */ 1", RP, F_READ, NULL),
    R("/* a */ -- b\n # c\n SELECT 1", RP, F_READ, NULL),
    R("\n\t  SELECT\n1\n", RP, F_READ, NULL),
    R("SeLeCt 1 FrOm t", RP, F_READ, NULL),

    /* ---- SELECT that needs the master */
    RN("SELECT * FROM t FOR UPDATE", M, 0, F_READ, "for update"),
    R("SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT", M, 0, "for update"),
    R("SELECT * FROM t FOR UPDATE SKIP LOCKED", M, 0, "for update"),
    R("SELECT * FROM t LOCK IN SHARE MODE", M, 0, "for update"),
    R("SELECT * FROM t FOR SHARE", M, 0, "for update"),
    R("select * from t for update", M, 0, "for update"),
    R("(SELECT * FROM t FOR UPDATE)", M, 0, "for update"),
    R("SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", M, 0, "for update"),
    R("SELECT 1 UNION SELECT 2 FOR UPDATE", M, 0, "for update"),
    R("SELECT 1 /*!50100 FOR UPDATE */", M, 0, "for update"),
    R("SELECT 1 /*M!100100 FOR UPDATE */", M, 0, "for update"),
    RN("SELECT LAST_INSERT_ID()", M, F_READ, F_PIN, "last_insert_id"),
    R("select last_insert_id()", M, F_READ, "last_insert_id"),
    R("SELECT last_insert_id ( )", M, F_READ, "last_insert_id"),
    R("SELECT id FROM t WHERE id = LAST_INSERT_ID()", M, F_READ, "last_insert_id"),
    R("SELECT @@identity", M, F_READ, "last_insert_id"),
    R("SELECT @@IDENTITY", M, F_READ, "last_insert_id"),
    R("SELECT @@last_insert_id", M, F_READ, "last_insert_id"),
    R("SELECT @@session.last_insert_id", M, F_READ, "last_insert_id"),
    R("SELECT ROW_COUNT()", M, F_READ, "row_count"),
    R("SELECT FOUND_ROWS()", PV, F_READ, "found_rows"),
    R("select found_rows()", PV, F_READ, "found_rows"),
    R("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", M, F_CALC | F_READ, "sql_calc_found_rows"),
    RN("SELECT GET_LOCK('x', 10)", M, F_PIN, F_READ, "get_lock"),
    R("SELECT RELEASE_LOCK('x')", M, 0, "lock function"),
    R("SELECT RELEASE_ALL_LOCKS()", M, 0, "lock function"),
    R("SELECT IS_USED_LOCK('x')", M, 0, "lock function"),
    R("SELECT IS_FREE_LOCK('x')", M, 0, "lock function"),
    RN("SELECT NEXTVAL(s)", M, 0, F_READ, "sequence"),
    R("SELECT LASTVAL(s)", M, 0, "sequence"),
    R("SELECT SETVAL(s, 10)", M, 0, "sequence"),
    R("SELECT NEXT VALUE FOR s", M, 0, "sequence"),
    R("SELECT PREVIOUS VALUE FOR s", M, 0, "sequence"),
    RN("SELECT my_func(1)", M, 0, F_READ, "stored function"),
    R("SELECT db.my_func(1)", M, 0, "stored function"),
    R("SELECT `my_func`(1)", M, 0, "stored function"),
    R("SELECT a FROM t WHERE f(a) > 1", M, 0, "stored function"),
    R("SELECT f (1)", M, 0, "stored function"),
    R("SELECT * FROM t INTO OUTFILE '/tmp/x'", M, 0, "outfile"),
    R("SELECT * FROM t INTO DUMPFILE '/tmp/x'", M, 0, "outfile"),
    RN("SELECT a INTO @v FROM t", M, F_UVW | F_PIN, F_READ, "into variable"),
    R("SELECT a FROM t INTO @v", M, F_UVW | F_PIN, "into variable"),
    R("SELECT a, b INTO @x, @y FROM t LIMIT 1", M, F_UVW, "into variable"),
    RN("SELECT @v := a FROM t", M, F_UVW | F_PIN, F_READ, "user variable assignment"),
    R("SELECT @rownum := @rownum + 1 AS r FROM t", M, F_UVW | F_PIN, "user variable assignment"),
    R("SELECT LOAD_FILE('/etc/hostname')", M, 0, "master-only"),
    R("SELECT MASTER_POS_WAIT('f', 4)", M, 0, "master-only"),
    R("SELECT MASTER_GTID_WAIT('0-1-1', 1)", M, 0, "master-only"),
    R("SELECT @@server_id", M, F_READ, "server state"),
    R("SELECT @@global.read_only", M, F_READ, "server state"),
    R("SELECT @@read_only", M, F_READ, "server state"),
    R("SELECT @@hostname", M, F_READ, "server state"),
    R("SELECT @@gtid_current_pos", M, F_READ, "server state"),
    R("SELECT @@GLOBAL.sql_mode", M, F_READ, "server state"),
    R("SELECT * FROM information_schema.PROCESSLIST", M, F_READ, "server state"),
    R("SELECT * FROM performance_schema.threads", M, F_READ, "server state"),
    R("SELECT * FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'read_only'", M, F_READ, "server state"),
    R("SELECT @@warning_count", PV, F_READ, "previous"),
    R("SELECT @@error_count", PV, F_READ, "previous"),

    /* ---- temporary tables (the callback knows tmp1 and tmp 9) */
    R("SELECT 1 FROM tmp1", M, F_READ, "temporary table"),
    R("SELECT * FROM t JOIN tmp1 ON t.id = tmp1.id", M, F_READ, "temporary table"),
    R("SELECT * FROM `tmp1`", M, F_READ, "temporary table"),
    R("SELECT * FROM db.tmp1", M, F_READ, "temporary table"),
    R("SELECT * FROM t WHERE id IN (SELECT id FROM tmp1)", M, F_READ, "temporary table"),
    R("SELECT * FROM t, tmp1", M, F_READ, "temporary table"),
    R("SELECT * FROM \"tmp1\"", M, F_READ, "temporary table"),
    R("SELECT * FROM `tmp 9`", M, F_READ, "temporary table"),
    R("TABLE tmp1", M, F_READ, "temporary table"),
    R("CHECKSUM TABLE tmp1", M, F_READ, "temporary table"),
    R("DESCRIBE tmp1", M, F_READ, "temporary table"),
    R("SHOW CREATE TABLE tmp1", M, F_READ, "temporary table"),
    R("SHOW COLUMNS FROM tmp1", M, F_READ, "temporary table"),
    R("EXPLAIN SELECT * FROM tmp1", M, F_READ, "temporary table"),
    R("WITH cte AS (SELECT * FROM tmp1) SELECT * FROM cte", M, F_READ, "temporary table"),
    RN("CREATE TEMPORARY TABLE tmp9 (id INT)", M, F_TC | F_W, F_IC | F_PIN, "create temporary table"),
    RN("CREATE TEMPORARY TABLE IF NOT EXISTS tmp9 (id INT)", M, F_TC, F_IC, "create temporary table"),
    R("CREATE TEMPORARY TABLE db.`tmp 9` AS SELECT 1", M, F_TC, "create temporary table"),
    R("create temporary table tmp9 like t", M, F_TC, "create temporary table"),
    R("CREATE OR REPLACE TEMPORARY TABLE tmp9 (a INT)", M, F_TC, "create temporary table"),
    RN("CREATE TEMPORARY TABLE", M, F_PIN, F_TC, NULL),
    RN("DROP TEMPORARY TABLE tmp1", M, F_TD, F_IC, "drop temporary table"),
    R("DROP TEMPORARY TABLE IF EXISTS tmp1, tmp9", M, F_TD, "drop temporary table"),
    RN("DROP TABLE tmp1", M, F_TD, F_IC, "drop temporary table"),
    R("DROP TABLE t, tmp1", M, F_TD | F_IC, "ddl"),
    RN("DROP TABLE t", M, F_W | F_IC, F_TD, "ddl"),
    R("ALTER TABLE tmp1 ADD COLUMN c INT", M, F_PIN, "temporary"),
    R("ALTER TABLE tmp1 RENAME TO tmp2", M, F_PIN, "temporary"),
    R("RENAME TABLE tmp1 TO tmp2", M, F_PIN, "temporary"),
    RN("INSERT INTO tmp1 VALUES (1)", M, F_W, F_PIN, "write"),

    /* ---- WITH */
    R("WITH cte AS (SELECT 1) SELECT * FROM cte", RP, F_READ, "read"),
    R("WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r", RP, F_READ, "read"),
    R("WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b", RP, F_READ, "read"),
    R("WITH cte(a, b) AS (SELECT 1, 2) SELECT a FROM cte", RP, F_READ, "read"),
    R("WITH cte AS (SELECT 1) (SELECT * FROM cte)", RP, F_READ, "read"),
    R("(WITH c AS (SELECT 1) SELECT * FROM c)", RP, F_READ, "read"),
    RN("WITH cte AS (SELECT id FROM t) DELETE FROM t WHERE id IN (SELECT id FROM cte)", M, F_W, F_READ, "write"),
    R("WITH cte AS (SELECT id FROM t) UPDATE t SET a = 1", M, F_W, "write"),
    R("WITH cte AS (SELECT * FROM t FOR UPDATE) SELECT * FROM cte", M, 0, "for update"),
    R("WITH cte AS (SELECT LAST_INSERT_ID()) SELECT * FROM cte", M, 0, "last_insert_id"),
    R("WITH", M, 0, "unknown"),
    R("WITH x AS SELECT 1", M, 0, "unknown"),

    /* ---- TABLE, VALUES, DO, HELP, CHECKSUM */
    R("TABLE t", RP, F_READ, NULL),
    R("TABLE t ORDER BY a LIMIT 5", RP, F_READ, NULL),
    R("VALUES (1, 2), (3, 4)", RP, F_READ, NULL),
    R("VALUES ROW(1, 2)", RP, F_READ, NULL),
    R("DO 1", RP, F_READ, "do"),
    R("DO SLEEP(1)", RP, F_READ, "do"),
    R("DO (SELECT COUNT(*) FROM t)", RP, F_READ, "do"),
    R("SELECT @v, a FROM t", RP, F_READ | RWR_F_USER_VAR_READ, "read"),
    RN("DO GET_LOCK('a', 1)", M, F_PIN, F_READ, "get_lock"),
    R("DO RELEASE_LOCK('a')", M, 0, "lock function"),
    R("DO @a := 1", M, F_UVW, "user variable"),
    R("DO my_proc_func()", M, 0, "stored function"),
    R("HELP 'contents'", RP, F_READ, "help"),
    R("CHECKSUM TABLE t", RP, F_READ, "checksum"),
    R("CHECKSUM TABLE t1, t2 EXTENDED", RP, F_READ, "checksum"),

    /* ---- SHOW */
    R("SHOW TABLES", RP, F_READ, "show"),
    R("SHOW FULL TABLES FROM db LIKE 'x%'", RP, F_READ, "show"),
    R("SHOW DATABASES", RP, F_READ, "show"),
    R("SHOW SCHEMAS", RP, F_READ, "show"),
    R("SHOW CREATE TABLE t", RP, F_READ, "show"),
    R("SHOW CREATE DATABASE d", RP, F_READ, "show"),
    R("SHOW COLUMNS FROM t", RP, F_READ, "show"),
    R("SHOW FULL COLUMNS FROM t", RP, F_READ, "show"),
    R("SHOW INDEX FROM t", RP, F_READ, "show"),
    R("SHOW KEYS FROM t", RP, F_READ, "show"),
    R("SHOW TABLE STATUS LIKE 't'", RP, F_READ, "show"),
    R("SHOW GRANTS", RP, F_READ, "show"),
    R("SHOW GRANTS FOR 'app'@'%'", RP, F_READ, "show"),
    R("SHOW CHARACTER SET", RP, F_READ, "show"),
    R("SHOW COLLATION LIKE 'utf8%'", RP, F_READ, "show"),
    R("SHOW ENGINES", RP, F_READ, "show"),
    R("SHOW PROCEDURE STATUS", RP, F_READ, "show"),
    R("SHOW CREATE PROCEDURE p", RP, F_READ, "show"),
    R("SHOW TRIGGERS", RP, F_READ, "show"),
    R("show tables", RP, F_READ, "show"),
    R("SHOW MASTER STATUS", M, F_READ, "show master"),
    R("SHOW BINARY LOGS", M, F_READ, "show master"),
    R("SHOW MASTER LOGS", M, F_READ, "show master"),
    R("SHOW BINLOG EVENTS", M, F_READ, "show master"),
    R("SHOW SLAVE STATUS", M, F_READ, "server state"),
    R("SHOW REPLICA STATUS", M, F_READ, "server state"),
    R("SHOW ALL SLAVES STATUS", M, F_READ, "server state"),
    R("SHOW SLAVE HOSTS", M, F_READ, "server state"),
    R("SHOW PROCESSLIST", M, F_READ, "server state"),
    R("SHOW FULL PROCESSLIST", M, F_READ, "server state"),
    R("SHOW VARIABLES LIKE 'read_only'", M, F_READ, "server state"),
    R("SHOW GLOBAL VARIABLES", M, F_READ, "server state"),
    R("SHOW SESSION STATUS", M, F_READ, "server state"),
    R("SHOW STATUS LIKE 'Threads%'", M, F_READ, "server state"),
    R("SHOW ENGINE INNODB STATUS", M, F_READ, "server state"),
    R("SHOW OPEN TABLES", M, F_READ, "server state"),
    R("SHOW PLUGINS", M, F_READ, "server state"),
    R("SHOW EXPLAIN FOR 5", M, F_READ, "server state"),
    R("SHOW WARNINGS", PV, F_READ, "show warnings"),
    R("SHOW WARNINGS LIMIT 10", PV, F_READ, "show warnings"),
    R("SHOW ERRORS", PV, F_READ, "show warnings"),
    R("SHOW COUNT(*) WARNINGS", PV, F_READ, "show warnings"),
    R("SHOW PROFILES", PV, F_READ, "show warnings"),

    /* ---- DESCRIBE / EXPLAIN / ANALYZE */
    R("DESCRIBE t", RP, F_READ, "describe"),
    R("DESC t", RP, F_READ, "describe"),
    R("DESC `t`", RP, F_READ, "describe"),
    R("DESCRIBE db.t col", RP, F_READ, "describe"),
    R("EXPLAIN t", RP, F_READ, "describe"),
    R("DESCRIBE t 'a%'", RP, F_READ, "describe"),
    RN("DESCRIBE t a b", M, 0, F_READ, "unknown"),
    RN("EXPLAIN EXPLAIN SELECT 1", M, 0, F_READ, "unknown"),
    R("EXPLAIN SELECT * FROM t", RP, F_READ, "explain"),
    R("EXPLAIN EXTENDED SELECT 1", RP, F_READ, "explain"),
    R("EXPLAIN FORMAT=JSON SELECT * FROM t", RP, F_READ, "explain"),
    R("EXPLAIN FORMAT = TRADITIONAL SELECT 1", RP, F_READ, "explain"),
    R("EXPLAIN PARTITIONS SELECT 1", RP, F_READ, "explain"),
    R("EXPLAIN (SELECT 1)", RP, F_READ, "explain"),
    R("DESCRIBE SELECT 1", RP, F_READ, "explain"),
    R("EXPLAIN WITH c AS (SELECT 1) SELECT * FROM c", RP, F_READ, "explain"),
    RN("EXPLAIN UPDATE t SET a = 1", M, F_READ, F_W, "explain write"),
    R("EXPLAIN DELETE FROM t", M, F_READ, "explain write"),
    R("EXPLAIN INSERT INTO t VALUES (1)", M, F_READ, "explain write"),
    R("EXPLAIN SELECT LAST_INSERT_ID()", M, F_READ, "last_insert_id"),
    RN("EXPLAIN SELECT @a := 1", M, F_READ, F_UVW | F_PIN, NULL),
    R("EXPLAIN FOR CONNECTION 5", M, F_READ, "connection"),
    R("EXPLAIN ANALYZE SELECT * FROM t", RP, F_READ, NULL),
    R("ANALYZE SELECT * FROM t", RP, F_READ, NULL),
    R("ANALYZE FORMAT=JSON SELECT 1", RP, F_READ, NULL),
    R("ANALYZE UPDATE t SET a = 1", M, F_W, "write"),
    R("ANALYZE TABLE t", M, F_W | F_IC, "maintenance"),
    R("ANALYZE NO_WRITE_TO_BINLOG TABLE t", M, F_W | F_IC, "maintenance"),

    /* ---- DML */
    RN("INSERT INTO t VALUES (1)", M, F_W, F_READ | F_PIN | F_IC, "write"),
    R("insert into t (a, b) values (1, 2), (3, 4)", M, F_W, "write"),
    R("INSERT INTO t SET a = 1", M, F_W, "write"),
    R("INSERT INTO t SELECT * FROM u", M, F_W, "write"),
    R("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)", M, F_W, "write"),
    R("INSERT IGNORE INTO t VALUES (1)", M, F_W, "write"),
    R("INSERT INTO t VALUES (1) RETURNING id", M, F_W, "write"),
    R("UPDATE t SET a = 1 WHERE id = 2", M, F_W, "write"),
    R("UPDATE t SET a = ? WHERE id = ?", M, F_W, "write"),
    R("INSERT INTO t VALUES (?, ?)", M, F_W, "write"),
    R("UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b", M, F_W, "write"),
    R("DELETE FROM t WHERE id = 1", M, F_W, "write"),
    R("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", M, F_W, "write"),
    R("REPLACE INTO t VALUES (1)", M, F_W, "write"),
    R("LOAD DATA INFILE '/tmp/x' INTO TABLE t", M, F_W, "load data"),
    R("LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t FIELDS TERMINATED BY ','", M, F_W, "load data"),
    R("LOAD XML LOCAL INFILE 'x.xml' INTO TABLE t", M, F_W, "load data"),
    R("CALL p()", M, F_W, "call"),
    R("CALL db.p(1, @out)", M, F_W, "call"),
    R("UPDATE t SET a = (@v := a + 1)", M, F_W | F_UVW | F_PIN, "write"),
    R("/* comment */ INSERT INTO t VALUES (1)", M, F_W, "write"),
    R("-- c\nINSERT INTO t VALUES (1)", M, F_W, "write"),
    R("# c\nDELETE FROM t", M, F_W, "write"),
    R("/*!50100 INSERT INTO t VALUES (1) */", M, F_W, "write"),
    RN("(INSERT INTO t VALUES (1))", M, 0, F_W, "unknown"),

    /* ---- DDL and administration */
    RN("CREATE TABLE t (id INT PRIMARY KEY)", M, F_W | F_IC, F_TC, "ddl"),
    R("CREATE TABLE t2 AS SELECT * FROM t", M, F_W | F_IC, "ddl"),
    R("CREATE TABLE IF NOT EXISTS t (a INT DEFAULT (RAND()))", M, F_W | F_IC, "ddl"),
    R("CREATE INDEX i ON t (a)", M, F_W | F_IC, "ddl"),
    R("CREATE UNIQUE INDEX i ON t (a)", M, F_W | F_IC, "ddl"),
    R("CREATE DATABASE d", M, F_W | F_IC, "ddl"),
    R("CREATE VIEW v AS SELECT 1", M, F_W | F_IC, "ddl"),
    R("CREATE OR REPLACE VIEW v AS SELECT 1", M, F_W | F_IC, "ddl"),
    R("CREATE ALGORITHM=MERGE DEFINER=CURRENT_USER SQL SECURITY INVOKER VIEW v AS SELECT 1", M, F_W | F_IC, "ddl"),
    RN("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", M, F_W | F_IC, F_MULTI, "ddl"),
    RN("CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN DECLARE x INT; SET x = 1; END", M, F_W | F_IC, F_MULTI | F_SES | F_PIN, "ddl"),
    R("CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1", M, F_W | F_IC, "ddl"),
    RN("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", M, F_W | F_IC, F_SES, "ddl"),
    R("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t", M, F_W | F_IC, "ddl"),
    R("CREATE USER 'u'@'%' IDENTIFIED BY 'p'", M, F_W | F_IC, "ddl"),
    R("CREATE SEQUENCE s", M, F_W | F_IC, "ddl"),
    R("ALTER TABLE t ADD COLUMN c INT", M, F_W | F_IC, "ddl"),
    R("ALTER DATABASE d CHARACTER SET utf8mb4", M, F_W | F_IC, "ddl"),
    R("ALTER USER 'u'@'%' IDENTIFIED BY 'x'", M, F_W | F_IC, "ddl"),
    R("RENAME TABLE a TO b", M, F_W | F_IC, "ddl"),
    R("RENAME USER a TO b", M, F_W | F_IC, "ddl"),
    R("DROP TABLE IF EXISTS t1, t2", M, F_W | F_IC, "ddl"),
    R("DROP DATABASE d", M, F_W | F_IC, "ddl"),
    R("DROP VIEW v", M, F_W | F_IC, "ddl"),
    R("DROP PROCEDURE IF EXISTS p", M, F_W | F_IC, "ddl"),
    R("DROP INDEX i ON t", M, F_W | F_IC, "ddl"),
    R("TRUNCATE TABLE t", M, F_W | F_IC, "ddl"),
    R("TRUNCATE t", M, F_W | F_IC, "ddl"),
    R("GRANT SELECT ON db.* TO 'u'@'%'", M, F_W | F_IC, "account"),
    R("REVOKE ALL ON *.* FROM u", M, F_W | F_IC, "account"),
    RN("FLUSH PRIVILEGES", M, F_W | F_IC, F_PIN, "flush"),
    R("FLUSH TABLES WITH READ LOCK", M, F_PIN, "flush"),
    R("FLUSH TABLES t FOR EXPORT", M, F_PIN, "flush"),
    R("OPTIMIZE TABLE t", M, F_W | F_IC, "maintenance"),
    R("REPAIR TABLE t", M, F_W | F_IC, "maintenance"),
    RN("CHECK TABLE t", M, F_IC, F_W, "maintenance"),
    R("RESET MASTER", M, F_IC, "administration"),
    R("RESET QUERY CACHE", M, 0, "administration"),
    R("CACHE INDEX t IN c", M, F_IC, "administration"),
    RN("LOAD INDEX INTO CACHE t", M, F_IC, F_W, "administration"),
    R("PURGE BINARY LOGS TO 'x'", M, 0, "administration"),
    R("CHANGE MASTER TO MASTER_HOST='x'", M, F_IC, "administration"),
    R("STOP SLAVE", M, F_IC, "administration"),
    RN("START SLAVE", M, F_IC, F_BEGIN, "administration"),
    R("START REPLICA", M, F_IC, "administration"),
    R("INSTALL PLUGIN x SONAME 'y'", M, F_IC, "administration"),
    R("SHUTDOWN", M, 0, "administration"),
    R("BINLOG 'abc'", M, F_W, "administration"),
    R("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'x'", M, 0, "signal"),
    R("GET DIAGNOSTICS @n = NUMBER", PV, F_UVW, "diagnostics"),
    R("GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", PV, F_UVW, "diagnostics"),

    /* ---- transactions */
    RN("BEGIN", M, F_BEGIN | F_IC, F_BEGIN_RO | F_END, "begin"),
    R("begin work", M, F_BEGIN, "begin"),
    RN("BEGIN;", M, F_BEGIN, F_MULTI, "begin"),
    R("/* x */ BEGIN", M, F_BEGIN, "begin"),
    RN("BEGIN WORK foo", M, 0, F_BEGIN, "unknown"),
    RN("START TRANSACTION", M, F_BEGIN | F_IC, F_BEGIN_RO, "begin"),
    R("START TRANSACTION READ WRITE", M, F_BEGIN, "begin"),
    R("START TRANSACTION WITH CONSISTENT SNAPSHOT", M, F_BEGIN, "begin"),
    R("start transaction with consistent snapshot, read write", M, F_BEGIN, "begin"),
    RN("START TRANSACTION READ ONLY", RP, F_BEGIN_RO, F_BEGIN, "read-only transaction"),
    R("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", RP, F_BEGIN_RO, "read-only transaction"),
    R("start transaction read only", RP, F_BEGIN_RO, "read-only transaction"),
    RN("START TRANSACTION BOGUS", M, 0, F_BEGIN | F_BEGIN_RO, "unknown"),
    RN("COMMIT", M, F_END, F_CHAIN | F_REL | F_BEGIN, "commit"),
    R("COMMIT WORK", M, F_END, "commit"),
    RN("commit;", M, F_END, F_MULTI, "commit"),
    R("COMMIT AND CHAIN", M, F_END | F_CHAIN, "commit"),
    RN("COMMIT AND NO CHAIN", M, F_END, F_CHAIN, "commit"),
    R("COMMIT RELEASE", M, F_END | F_REL, "commit"),
    RN("COMMIT WORK AND NO CHAIN NO RELEASE", M, F_END, F_CHAIN | F_REL, "commit"),
    RN("COMMIT foo", M, 0, F_END, "unknown"),
    RN("ROLLBACK", M, F_END, F_CHAIN, "rollback"),
    R("ROLLBACK WORK", M, F_END, "rollback"),
    R("ROLLBACK AND CHAIN", M, F_END | F_CHAIN, "rollback"),
    RN("ROLLBACK TO SAVEPOINT sp1", M, 0, F_END, "savepoint"),
    RN("ROLLBACK WORK TO sp1", M, 0, F_END, "savepoint"),
    RN("SAVEPOINT sp1", M, 0, F_END | F_BEGIN, "savepoint"),
    RN("RELEASE SAVEPOINT sp1", M, 0, F_END, "savepoint"),
    RN("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", M, F_PIN, F_MULTI | F_BEGIN, "compound"),
    RN("IF 1 THEN SELECT 1; END IF", M, F_PIN, F_MULTI, "compound"),
    RN("label1: BEGIN SELECT 1; END", M, F_PIN, F_MULTI, "compound"),
    R("XA START 'x'", M, F_XA | F_BEGIN, "xa"),
    R("XA BEGIN 'x'", M, F_XA | F_BEGIN, "xa"),
    RN("XA END 'x'", M, F_XA, F_END | F_BEGIN, "xa"),
    R("XA PREPARE 'x'", M, F_XA, "xa"),
    R("XA COMMIT 'x'", M, F_XA | F_END, "xa"),
    R("XA COMMIT 'x' ONE PHASE", M, F_XA | F_END, "xa"),
    R("XA ROLLBACK 'x'", M, F_XA | F_END, "xa"),
    R("XA RECOVER", M, F_XA, "xa"),

    /* ---- autocommit and SET */
    RN("SET autocommit=0", M, F_AC0 | F_SES, F_AC1 | F_PIN, "session"),
    RN("SET autocommit = 1", M, F_AC1 | F_SES, F_AC0, "session"),
    R("set autocommit=OFF", M, F_AC0, "session"),
    R("SET autocommit=on", M, F_AC1, "session"),
    R("SET autocommit = TRUE", M, F_AC1, "session"),
    R("SET autocommit = false", M, F_AC0, "session"),
    R("SET @@autocommit=0", M, F_AC0, "session"),
    R("SET @@session.autocommit = 0", M, F_AC0 | F_SES, "session"),
    R("SET @@SESSION.AUTOCOMMIT=1", M, F_AC1 | F_SES, "session"),
    R("SET SESSION autocommit = 0", M, F_AC0, "session"),
    R("SET LOCAL autocommit=0", M, F_AC0, "session"),
    R("SET autocommit='OFF'", M, F_AC0, "session"),
    R("SET a=1, autocommit=0", M, F_AC0 | F_SES, "session"),
    RN("set autocommit=1, session_track_schema=1, session_track_system_variables='auto_increment_increment', sql_mode=concat(@@sql_mode, ',STRICT_TRANS_TABLES')", M, F_AC1 | F_SES, F_PIN, "session"),
    RN("SET autocommit = @x", M, F_PIN, F_AC0 | F_AC1, "autocommit"),
    RN("SET autocommit = 1 + 0", M, F_PIN, F_AC0 | F_AC1, "autocommit"),
    RN("SET GLOBAL autocommit=0", M, 0, F_AC0 | F_SES, "set global"),
    RN("SET @@global.autocommit = 0", M, 0, F_AC0 | F_SES, "set global"),
    RN("SET NAMES utf8mb4", M, F_SES, F_PIN, "session"),
    R("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", M, F_SES, "session"),
    R("SET NAMES utf8 COLLATE utf8_general_ci", M, F_SES, "session"),
    RN("/*!40101 SET NAMES utf8 */", M, F_SES, F_PIN, "session"),
    RN("/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", M, F_SES | F_UVW, F_PIN, "session"),
    R("/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", M, F_SES | F_UVW, "session"),
    R("/*M!100100 SET NAMES utf8mb4 */", M, F_SES, "session"),
    R("SET CHARACTER SET utf8", M, F_SES, "session"),
    R("SET CHARSET utf8", M, F_SES, "session"),
    R("SET character_set_results = NULL", M, F_SES, "session"),
    R("SET sql_mode = 'STRICT_TRANS_TABLES'", M, F_SES, "session"),
    R("SET SESSION sql_mode = ''", M, F_SES, "session"),
    R("SET @@session.time_zone = '+00:00'", M, F_SES, "session"),
    R("SET time_zone = 'UTC', sql_mode = 'ANSI'", M, F_SES, "session"),
    R("SET foreign_key_checks = 0", M, F_SES, "session"),
    R("SET group_concat_max_len = 1000000", M, F_SES, "session"),
    R("SET sql_log_bin = 0", M, F_SES, "session"),
    R("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", M, F_SES, "session"),
    RN("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", M, 0, F_SES | F_PIN, "set transaction"),
    RN("SET TRANSACTION READ ONLY", M, 0, F_SES | F_BEGIN_RO, "set transaction"),
    RN("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", M, 0, F_SES, "set global"),
    R("SET @@session.transaction_isolation = 'READ-COMMITTED'", M, F_SES, "session"),
    R("SET tx_isolation = 'READ-COMMITTED'", M, F_SES, "session"),
    RN("SET GLOBAL max_connections = 100", M, 0, F_SES | F_PIN, "set global"),
    RN("SET @@global.max_connections = 100", M, 0, F_SES, "set global"),
    RN("SET GLOBAL a = 1, SESSION b = 2", M, F_PIN, F_SES, "global and session"),
    RN("SET GLOBAL a = 1, b = 2", M, 0, F_SES | F_PIN, "set global"),
    RN("SET @a = 1", M, F_SES | F_UVW, F_PIN, "session"),
    R("SET @a := 1", M, F_SES | F_UVW, "session"),
    R("SET @a = 1, @b = 'x'", M, F_SES | F_UVW, "session"),
    R("SET @`my var` = 2", M, F_SES | F_UVW, "session"),
    R("SET @'q' = 2", M, F_SES | F_UVW, "session"),
    R("SET @a = (SELECT MAX(id) FROM t)", M, F_SES | F_UVW | F_PIN, "not replayable"),
    R("SET @a = NOW()", M, F_PIN, "not replayable"),
    R("SET @a = my_func()", M, F_PIN, "not replayable"),
    R("SET @a = LAST_INSERT_ID()", M, F_PIN, "not replayable"),
    R("SET @a = @@server_id", M, F_PIN, "not replayable"),
    R("SET @a = @b := 2", M, F_PIN, NULL),
    R("SET sql_mode = (SELECT 'x')", M, F_PIN, "not replayable"),
    RN("SET @a = @b", M, F_SES, F_PIN, "session"),
    R("SET @a = ?", M, F_SES | F_PIN, "not replayable"),
    R("SET @t = CURRENT_TIMESTAMP", M, F_PIN, "not replayable"),
    RN("SET SESSION sql_mode = @@GLOBAL.sql_mode", M, F_SES, F_PIN, "session"),
    R("SET @a = @@global.server_id", M, F_PIN, "not replayable"),
    RN("set autocommit=1, session_track_system_variables = CONCAT(@@global.session_track_system_variables, ',auto_increment_increment')", M, F_SES | F_AC1, F_PIN, "session"),
    RN("SET @a = CONCAT(@b, 'x')", M, F_SES, F_PIN, "session"),
    RN("SET PASSWORD = PASSWORD('x')", M, F_W, F_SES, "set password"),
    R("SET PASSWORD FOR 'u'@'%' = 'x'", M, F_W, "set password"),
    R("SET ROLE r1", M, F_SES, "set role"),
    RN("SET DEFAULT ROLE r1 FOR u", M, F_W, F_SES, "set default role"),
    RN("SET STATEMENT max_statement_time=1 FOR SELECT 1", RP, F_SETST | F_READ, F_SES, "read"),
    R("SET STATEMENT max_statement_time = 10, sql_mode='' FOR SELECT * FROM t FOR UPDATE", M, F_SETST, "for update"),
    R("SET STATEMENT x=1 FOR UPDATE t SET a = 1", M, F_SETST | F_W, "write"),
    R("SET STATEMENT x=1 FOR INSERT INTO t VALUES (1)", M, F_SETST | F_W, "write"),
    R("set statement x=(1) for select last_insert_id()", M, F_SETST, "last_insert_id"),
    RN("SET STATEMENT x=1", M, 0, F_SES | F_SETST, "unknown"),
    R("SET", M, F_PIN, "unparseable set"),
    R("SET =", M, F_PIN, "unparseable set"),
    R("SET a", M, F_PIN, "unparseable set"),
    R("SET a =", M, F_PIN, "unparseable set"),
    R("SET SESSION keycache1.key_buffer_size = 1024", M, F_SES, "session"),

    /* ---- USE */
    R("USE test", M, F_USE | F_SES, "use"),
    R("use `my db`", M, F_USE, "use"),
    RN("USE test;", M, F_USE, F_MULTI, "use"),
    RN("USE", M, 0, F_USE, "unknown"),
    RN("USE a b", M, 0, F_USE, "unknown"),

    /* ---- LOCK, HANDLER, PREPARE, KILL */
    R("LOCK TABLES t READ", M, F_LOCK | F_PIN | F_IC, "lock tables"),
    R("LOCK TABLE t WRITE, u READ", M, F_LOCK | F_PIN, "lock tables"),
    RN("UNLOCK TABLES", M, F_UNLOCK, F_PIN, "unlock tables"),
    R("LOCK INSTANCE FOR BACKUP", M, F_PIN, "lock instance"),
    R("BACKUP STAGE START", M, F_PIN, "backup"),
    R("HANDLER t OPEN", M, F_PIN, "handler"),
    R("HANDLER t READ FIRST", M, F_PIN, "handler"),
    R("PREPARE s FROM 'SELECT 1'", M, F_PREP | F_PIN, "prepare"),
    R("EXECUTE s USING @a", M, F_PREP | F_PIN, "prepare"),
    R("DEALLOCATE PREPARE s", M, F_PREP, "prepare"),
    RN("DROP PREPARE s", M, F_PREP, F_IC, "prepare"),
    R("EXECUTE IMMEDIATE 'SELECT 1'", M, F_PREP | F_PIN, "prepare"),
    R("KILL 12", M, F_KILL, "kill"),
    R("KILL CONNECTION 12", M, F_KILL, "kill"),
    R("KILL QUERY 12", M, F_KILL, "kill"),
    R("kill query 99;", M, F_KILL, "kill"),
    R("KILL HARD QUERY 12", M, F_KILL, "kill"),
    RN("KILL QUERY ID 12", M, 0, F_KILL, "kill query id"),
    RN("KILL USER app", M, 0, F_KILL, "kill user"),
    RN("KILL CONNECTION_ID()", M, 0, F_KILL, "kill"),
    RN("KILL 99999999999999999999999", M, 0, F_KILL, "kill"),

    /* ---- multi-statements */
    R("SELECT 1; SELECT 2", M, F_MULTI | F_READ, "multi"),
    RN("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", M, F_MULTI | F_W, F_PIN | F_READ, "multi"),
    R("SELECT 1;SELECT 2;", M, F_MULTI, "multi"),
    R("SELECT 1; -- c\n SELECT 2", M, F_MULTI, "multi"),
    R("SET autocommit=0; INSERT INTO t VALUES (1)", M, F_MULTI | F_AC0 | F_PIN, "multi"),
    R("BEGIN; UPDATE t SET a = 1; COMMIT", M, F_MULTI | F_BEGIN | F_END | F_PIN, "multi"),
    R("SELECT 1; USE db2", M, F_MULTI | F_USE | F_PIN, "multi"),
    R("CREATE TEMPORARY TABLE x (a INT); SELECT 1", M, F_MULTI | F_TC | F_PIN, "multi"),
    R("CREATE TABLE t (a INT); SELECT 1", M, F_MULTI | F_W, "multi"),
    R("SET @a = 1; SELECT @a", M, F_MULTI | F_SES | F_UVW | F_PIN, "multi"),
    R("SELECT 1; 'unterminated", M, F_MULTI, "multi"),
    R(";SELECT 1", M, F_MULTI, "multi"),
    R("/*!40101 SET NAMES utf8 */; SELECT 1", M, F_MULTI | F_SES, "multi"),
    R("SELECT 'a;b'; SELECT \";\"", M, F_MULTI, "multi"),

    /* ---- hints */
    R("/* rwproxy:master */ SELECT 1", M, F_READ, "hint master"),
    R("/* rwproxy:replica */ INSERT INTO t VALUES (1)", RP, F_W, "hint replica"),
    R("/*rwproxy:replica*/SELECT * FROM t FOR UPDATE", RP, 0, "hint replica"),
    R("/* RWPROXY : MASTER */ SELECT 1", M, 0, "hint master"),
    R("/* rwproxy:server=db2 */ SELECT 1", SV, F_READ, "hint server"),
    R("/* rwproxy:server = db3 */ UPDATE t SET a=1", SV, F_W, "hint server"),
    R("-- rwproxy:master\nSELECT 1", M, 0, "hint master"),
    R("# rwproxy:master\nSELECT 1", M, 0, "hint master"),
    R("#rwproxy:replica\nSELECT LAST_INSERT_ID()", RP, 0, "hint replica"),
    R("-- rwproxy:replica\nSELECT 1 FOR UPDATE", RP, 0, "hint replica"),
    R("( /* rwproxy:master */ SELECT 1)", M, 0, "hint master"),
    R("/* other */ /* rwproxy:master */ SELECT 1", M, 0, "hint master"),
    R("/* rwproxy:master */ /* rwproxy:replica */ SELECT 1", M, 0, "hint master"),
    R("/* rwproxy: slave */ SELECT LAST_INSERT_ID()", RP, 0, "hint replica"),
    R("/*   rwproxy:master   */\nBEGIN", M, F_BEGIN, "hint master"),
    R("SELECT /* rwproxy:master */ 1", RP, F_READ, "read"),
    R("SELECT 'x' /* rwproxy:master */", RP, F_READ, "read"),
    R("/* rwproxy:bogus */ SELECT 1", RP, F_READ, "read"),
    R("/* rwproxy:server= */ SELECT 1", RP, F_READ, "read"),
    R("/* rwproxy:masterx */ SELECT 1", RP, F_READ, "read"),
    R("/* rwproxy master */ SELECT 1", RP, F_READ, "read"),
    R("/* rwproxy:master */", M, 0, "empty"),
    R("--rwproxy:master\nSELECT 1", M, 0, "unknown"),
    R("/*!40101 rwproxy:master */ SELECT 1", M, 0, NULL),

    /* ---- empty, junk, truncated */
    R("", M, 0, "empty"),
    R("   \n\t ", M, 0, "empty"),
    R("/* just a comment */", M, 0, "empty"),
    R("-- only\n", M, 0, "empty"),
    R("#", M, 0, "empty"),
    RN(";", M, 0, F_MULTI, "empty"),
    RN("SELECT 'abc", M, 0, F_READ, "unparseable"),
    R("SELECT \"abc", M, 0, "unparseable"),
    R("SELECT `abc", M, 0, "unparseable"),
    R("SELECT 1 /* unterminated", M, 0, "unparseable"),
    R("/* unterminated SELECT 1", M, 0, "unparseable"),
    R("SELECT 'a\\", M, 0, "unparseable"),
    R("/*!40101 SET NAMES utf8", M, 0, "unparseable"),
    R("/*!40101 SET NAMES /* nested */ utf8 */", M, 0, NULL),
    RN("INSERT INTO t VALUES ('abc", M, 0, F_W, "unparseable"),
    RN("SET autocommit=0 /* x", M, 0, F_AC0 | F_SES, "unparseable"),
    RN("SELECT @'abc", M, 0, F_READ, "unparseable"),
    R("\x01\x02\x03", M, 0, "unknown"),
    R("\xff\xfe SELECT 1", M, 0, "unknown"),
    R("???", M, 0, "unknown"),
    R("FOO BAR", M, 0, "unknown"),
    R("SELEC 1", M, 0, "unknown"),
    R("12345", M, 0, "unknown"),
    R("@a", M, 0, "unknown"),
    R("(((", M, 0, "unknown"),
    R(")", M, 0, "unknown"),
    R("DECLARE x INT", M, F_PIN, "compound"),

    /* ---- the two readings of a backslash (MariaDB default vs NO_BACKSLASH_ESCAPES) */
    R("SELECT 'a\\' FOR UPDATE, 'b'", M, 0, "for update"),
    R("SELECT 'x\\' , LAST_INSERT_ID(), ' ' ", M, 0, "last_insert_id"),
};

#define NROWS (sizeof rows / sizeof rows[0])

/* The session's temporary tables: "tmp1" and "tmp 9". */
static int is_temp(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    return (len == 4 && memcmp(name, "tmp1", 4) == 0) || (len == 5 && memcmp(name, "tmp 9", 5) == 0);
}

static const char *target_name(rwr_target t)
{
    switch (t) {
    case RWR_MASTER: return "master";
    case RWR_REPLICA: return "replica";
    case RWR_SERVER: return "server";
    case RWR_PREVIOUS: return "previous";
    }
    return "?";
}

static int check_row(const row *r, size_t i)
{
    rwr_decision d;
    rwr_classify(r->sql, strlen(r->sql), is_temp, NULL, &d);
    int ok = d.target == r->target && (d.flags & r->flags) == r->flags && !(d.flags & r->noflags) &&
             d.reason && (!r->reason || strstr(d.reason, r->reason));
    if (!ok)
        print_message("row %zu FAILED: [%s]\n  got %s flags=0x%x reason=\"%s\"; want %s flags+0x%x "
                      "flags-0x%x reason~\"%s\"\n",
                      i, r->sql, target_name(d.target), d.flags, d.reason ? d.reason : "(null)",
                      target_name(r->target), r->flags, r->noflags, r->reason ? r->reason : "");
    return ok;
}

static void test_table(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < NROWS; i++)
        failed += !check_row(&rows[i], i);
    print_message("%zu rows, %zu failed\n", NROWS, failed);
    assert_true(NROWS >= 320);
    assert_int_equal(failed, 0);
}

static void test_function_table_sorted(void **state)
{
    (void)state;
    assert_true(rwr_classify_table_ok());
}

static rwr_decision classify(const char *sql)
{
    rwr_decision d;
    rwr_classify(sql, strlen(sql), is_temp, NULL, &d);
    return d;
}

static void test_fields(void **state)
{
    (void)state;
    rwr_decision d = classify("USE `my``db`");
    assert_string_equal(d.db, "my`db");
    assert_string_equal(d.keyword, "USE");
    d = classify("use shop");
    assert_string_equal(d.db, "shop");
    d = classify("CREATE TEMPORARY TABLE IF NOT EXISTS db.`tmp x` (a INT)");
    assert_string_equal(d.temp_name, "tmp x");
    d = classify("create temporary table Foo like t");
    assert_string_equal(d.temp_name, "Foo");
    d = classify("DROP TEMPORARY TABLE IF EXISTS a, b");
    assert_string_equal(d.temp_name, "a");
    d = classify("DROP TABLE real_t, tmp1");
    assert_string_equal(d.temp_name, "tmp1");
    d = classify("KILL QUERY 4242");
    assert_true(d.flags & RWR_F_KILL);
    assert_true(d.kill_id == 4242);
    assert_int_equal(d.kill_query, 1);
    d = classify("KILL 18446744073709551615");
    assert_true(d.flags & RWR_F_KILL);
    assert_true(d.kill_id == UINT64_MAX);
    assert_int_equal(d.kill_query, 0);
    d = classify("/* rwproxy:server=db-2.local */ SELECT 1");
    assert_int_equal(d.target, RWR_SERVER);
    assert_int_equal(d.hint, 3);
    assert_string_equal(d.server, "db-2.local");
    d = classify("/* rwproxy:master */ SELECT 1");
    assert_int_equal(d.hint, 1);
    d = classify("-- rwproxy:replica\nSELECT 1");
    assert_int_equal(d.hint, 2);
    d = classify("SELECT 1");
    assert_int_equal(d.hint, 0);
    assert_string_equal(d.keyword, "SELECT");
    d = classify("  ((select 1))");
    assert_string_equal(d.keyword, "SELECT");
    d = classify("set statement a=1 for select 1");
    assert_string_equal(d.keyword, "SET");
    d = classify("");
    assert_string_equal(d.keyword, "");
    d = classify("ThisIsAVeryLongFirstWordThatDoesNotFitInTheKeyword x");
    assert_int_equal(strlen(d.keyword), sizeof d.keyword - 1);
    d = classify("/* rwproxy:server=abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234 */ SELECT 1");
    assert_int_equal(d.hint, 0); /* 64 characters: too long, ignored */
    assert_int_equal(d.target, RWR_REPLICA);
}

/* Records the names the classifier asks about. */
typedef struct {
    char names[16][64]; /* asked names */
    int n;              /* how many */
} asked;

static int record_temp(void *ctx, const char *name, size_t len)
{
    asked *a = ctx;
    if (a->n < 16 && len < 64) {
        memcpy(a->names[a->n], name, len);
        a->names[a->n][len] = '\0';
        a->n++;
    }
    return 0;
}

static int was_asked(const asked *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0)
            return 1;
    return 0;
}

static void test_temp_callback_names(void **state)
{
    (void)state;
    asked a;
    memset(&a, 0, sizeof a);
    rwr_decision d;
    const char *sql = "SELECT x FROM `we``ird`, db.plain JOIN \"ansi\" ON f.g = 1 WHERE 'str' = h(1)";
    rwr_classify(sql, strlen(sql), record_temp, &a, &d);
    assert_true(was_asked(&a, "we`ird"));
    assert_true(was_asked(&a, "plain"));
    assert_true(was_asked(&a, "ansi"));
    assert_false(was_asked(&a, "str"));
    assert_false(was_asked(&a, "h")); /* a function name is not a table */
    /* without a callback nothing is temporary */
    rwr_classify("SELECT * FROM tmp1", 18, NULL, NULL, &d);
    assert_int_equal(d.target, RWR_REPLICA);
}

static void test_nul_bytes(void **state)
{
    (void)state;
    rwr_decision d;
    static const char a[] = "SELECT 1\0; DROP TABLE t";
    rwr_classify(a, sizeof a - 1, is_temp, NULL, &d);
    assert_int_equal(d.target, RWR_MASTER);
    assert_true(d.flags & RWR_F_MULTI);
    static const char b[] = "SELECT '\0' FROM t";
    rwr_classify(b, sizeof b - 1, is_temp, NULL, &d);
    assert_int_equal(d.target, RWR_REPLICA);
    static const char c[] = "\0SELECT 1";
    rwr_classify(c, sizeof c - 1, is_temp, NULL, &d);
    assert_int_equal(d.target, RWR_MASTER);
    static const char e[] = "SELECT 1 --\0 FOR UPDATE";
    rwr_classify(e, sizeof e - 1, is_temp, NULL, &d);
    assert_int_equal(d.target, RWR_REPLICA); /* "--" + control character is a comment */
    rwr_classify(NULL, 0, NULL, NULL, &d);
    assert_string_equal(d.reason, "empty");
}

/* Every prefix of every row, copied into an exact-size heap buffer: ASan catches any read
 * past len; the result must be a valid decision. */
static void test_every_prefix(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        size_t n = strlen(rows[i].sql);
        for (size_t k = 0; k <= n; k++) {
            char *buf = malloc(k ? k : 1);
            assert_non_null(buf);
            memcpy(buf, rows[i].sql, k);
            rwr_decision d;
            rwr_classify(buf, k, is_temp, NULL, &d);
            assert_non_null(d.reason);
            assert_true(d.target <= RWR_PREVIOUS);
            assert_true(memchr(d.keyword, '\0', sizeof d.keyword) != NULL);
            free(buf);
        }
    }
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random bytes and random splices of SQL fragments: must not crash or hang. */
static void test_random(void **state)
{
    (void)state;
    static const char *frags[] = {"SELECT", " ", "'", "\"", "`", "/*", "*/", "/*!", "/*M!", "--",
                                  "-- ", "#", "\n", ";", "(", ")", "@", "@@", ":=", "\\", "FOR",
                                  "UPDATE", "SET", "x", "1", ",", "WITH", "AS", "EXPLAIN", "FOR ",
                                  "STATEMENT", "tmp1", "f(", ".", "=", "rwproxy:master", "\0"};
    uint32_t seed = 12345;
    char buf[512];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        int mode = iter & 1;
        size_t want = rng_next(&seed) % sizeof buf;
        while (n < want) {
            if (mode) {
                buf[n++] = (char)(rng_next(&seed) & 0xff);
            } else {
                const char *f = frags[rng_next(&seed) % (sizeof frags / sizeof frags[0])];
                size_t fl = f[0] ? strlen(f) : 1;
                if (n + fl > sizeof buf)
                    break;
                memcpy(buf + n, f, fl);
                n += fl;
            }
        }
        char *heap = malloc(n ? n : 1);
        assert_non_null(heap);
        memcpy(heap, buf, n);
        rwr_decision d;
        rwr_classify(heap, n, is_temp, NULL, &d);
        assert_non_null(d.reason);
        free(heap);
    }
}

/* Fills a heap buffer with `head`, then `unit` repeated, then `tail`, about `size` bytes. */
static char *build(const char *head, const char *unit, const char *tail, size_t size, size_t *len)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    size_t reps = (size - hl - tl) / ul;
    char *s = malloc(hl + reps * ul + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < reps; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + reps * ul, tail, tl);
    *len = hl + reps * ul + tl;
    return s;
}

static void classify_big(const char *head, const char *unit, const char *tail, rwr_target want,
                         const char *reason)
{
    size_t len;
    char *s = build(head, unit, tail, 1u << 20, &len);
    rwr_decision d;
    rwr_classify(s, len, is_temp, NULL, &d);
    if (d.target != want || (reason && !strstr(d.reason, reason)))
        print_message("big [%s%s...%s]: got %s \"%s\"\n", head, unit, tail, target_name(d.target), d.reason);
    assert_int_equal(d.target, want);
    if (reason)
        assert_non_null(strstr(d.reason, reason));
    free(s);
}

static void test_long_inputs(void **state)
{
    (void)state;
    classify_big("SELECT a", ", a", " FROM t", RWR_REPLICA, "read");
    classify_big("SELECT a", ", a", " FROM t FOR UPDATE", RWR_MASTER, "for update");
    classify_big("SELECT a FROM t WHERE b IN (", "1,", "1)", RWR_REPLICA, "read");
    classify_big("SELECT ", "(", "1", RWR_REPLICA, NULL);
    classify_big("", "(", "", RWR_MASTER, "unknown");
    classify_big("SELECT '", "x", "'", RWR_REPLICA, "read");
    classify_big("SELECT '", "\\'", "'", RWR_REPLICA, "read");
    classify_big("SELECT '", "x", "", RWR_MASTER, "unparseable");
    classify_big("/*", " ", "*/ SELECT 1", RWR_REPLICA, "read");
    classify_big("", "-- c\n", "SELECT 1", RWR_REPLICA, "read");
    classify_big("", "EXPLAIN ", "SELECT 1", RWR_MASTER, "unknown");
    classify_big("", "SET STATEMENT a=1 FOR ", "SELECT 1", RWR_MASTER, NULL);
    classify_big("", "SELECT 1;", "", RWR_MASTER, "multi");
    classify_big("SET ", "a=1,", "autocommit=0", RWR_MASTER, "session");
    classify_big("INSERT INTO t VALUES ", "(1,'a'),", "(2,'b')", RWR_MASTER, "write");
    classify_big("WITH ", "c AS (SELECT 1),", "d AS (SELECT 2) SELECT 1", RWR_REPLICA, "read");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_function_table_sorted),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_temp_callback_names),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_long_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
