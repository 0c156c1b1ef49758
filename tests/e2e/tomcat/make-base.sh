#!/usr/bin/env bash
# tests/e2e/tomcat/make-base.sh — builds a private Tomcat 10 instance directory (CATALINA_BASE)
# with the example shop webapp deployed in it, for Debian's tomcat10 package
# (CATALINA_HOME=/usr/share/tomcat10). Used by tests/e2e/test_tomcat.py and run-local.sh.
#
#   make-base.sh BASE_DIR HTTP_PORT JDBC_URL [DB_USER [DB_PASSWORD]]
#
# Lays out BASE_DIR/{conf,lib,logs,temp,work,webapps}: conf/server.xml with one HTTP connector
# on 127.0.0.1:HTTP_PORT and no shutdown port (stop Tomcat with SIGTERM), conf/web.xml and the
# other defaults copied from the tomcat10 package, Connector/J (libmariadb-java) in lib/, and
# webapps/shop: the servlets of src/ compiled with javac against tomcat10's servlet API, its
# WEB-INF/web.xml, and META-INF/context.xml declaring java:comp/env/jdbc/app (DBCP2 pool,
# org.mariadb.jdbc.Driver, JDBC_URL). Running it again rebuilds the webapp in place; it only
# ever deletes inside a BASE_DIR it made itself (marked by BASE_DIR/.rwproxy-shop-base).
# Start the instance with:
#   CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=BASE_DIR /usr/share/tomcat10/bin/catalina.sh run
set -euo pipefail

if [ "$#" -lt 3 ] || [ "$#" -gt 5 ]; then
  echo "usage: $0 BASE_DIR HTTP_PORT JDBC_URL [DB_USER [DB_PASSWORD]]" >&2
  exit 2
fi
BASE="$1" HTTP_PORT="$2" JDBC_URL="$3" DB_USER="${4:-app}" DB_PASSWORD="${5:-app_pw}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOMCAT_HOME=/usr/share/tomcat10
JDBC_JAR=/usr/share/java/mariadb-java-client.jar
MARK=.rwproxy-shop-base

die() { echo "make-base.sh: $*" >&2; exit 1; }

# The servlet API jar of Debian's libtomcat10-java.
servlet_api_jar() {
  local jar=/usr/share/java/tomcat10-servlet-api.jar
  if [ ! -f "$jar" ]; then
    jar="$(dpkg -L libtomcat10-java 2>/dev/null | grep -E '/tomcat10-servlet-api[^/]*\.jar$' | head -n 1 || true)"
  fi
  [ -n "$jar" ] && [ -f "$jar" ] || die "servlet API jar not found (apt-get install libtomcat10-java, or make deps)"
  echo "$jar"
}

# The directory holding tomcat10's default conf files (web.xml, logging.properties, ...).
default_conf_dir() {
  local d
  for d in "$TOMCAT_HOME/etc" /etc/tomcat10; do
    [ -f "$d/web.xml" ] && { echo "$d"; return; }
  done
  die "tomcat10's web.xml not found in $TOMCAT_HOME/etc or /etc/tomcat10 (apt-get install tomcat10)"
}

# $1 with the five XML special characters escaped (for an attribute value).
xml_escape() {
  local s="$1"
  s="${s//&/&amp;}"; s="${s//</&lt;}"; s="${s//>/&gt;}"; s="${s//\"/&quot;}"; s="${s//\'/&apos;}"
  printf '%s' "$s"
}

check_tools() {
  [ -x "$TOMCAT_HOME/bin/catalina.sh" ] || die "$TOMCAT_HOME/bin/catalina.sh missing (apt-get install tomcat10)"
  [ -f "$JDBC_JAR" ] || die "$JDBC_JAR missing (apt-get install libmariadb-java)"
  command -v javac >/dev/null || die "javac missing (apt-get install default-jdk-headless)"
  [[ "$HTTP_PORT" =~ ^[0-9]+$ ]] || die "HTTP_PORT must be a number: $HTTP_PORT"
}

prepare_base() {
  if [ -e "$BASE" ] && [ ! -e "$BASE/$MARK" ] && [ -n "$(ls -A "$BASE" 2>/dev/null)" ]; then
    die "$BASE exists, is not empty and was not made by make-base.sh: refusing to touch it"
  fi
  mkdir -p "$BASE"
  BASE="$(cd "$BASE" && pwd)"
  touch "$BASE/$MARK"
  rm -rf "$BASE/webapps/shop" "$BASE/work"
  mkdir -p "$BASE"/{conf,lib,logs,temp,work,webapps/shop}
}

write_conf() {
  local src
  src="$(default_conf_dir)"
  local f
  for f in web.xml logging.properties catalina.properties context.xml; do
    [ -f "$src/$f" ] && cp -f "$src/$f" "$BASE/conf/$f"
  done
  cat > "$BASE/conf/server.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- written by tests/e2e/tomcat/make-base.sh: one HTTP connector on 127.0.0.1:$HTTP_PORT,
     no shutdown port (stop with SIGTERM), webapps/ deployed at start-up. -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="$HTTP_PORT" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
XML
  cp -f "$JDBC_JAR" "$BASE/lib/"
}

build_webapp() {
  local app="$BASE/webapps/shop" api t
  api="$(servlet_api_jar)"
  mkdir -p "$app/WEB-INF/classes" "$app/META-INF"
  javac -encoding UTF-8 -Xlint:all -Werror -cp "$api:$JDBC_JAR" -d "$app/WEB-INF/classes" \
    "$HERE"/src/rwproxy/shop/*.java
  cp -f "$HERE/webapp/WEB-INF/web.xml" "$app/WEB-INF/web.xml"
  t="$(cat "$HERE/webapp/META-INF/context.xml.in")"
  shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: '&' in a replacement is literal
  t="${t//@JDBC_URL@/$(xml_escape "$JDBC_URL")}"
  t="${t//@DB_USER@/$(xml_escape "$DB_USER")}"
  t="${t//@DB_PASSWORD@/$(xml_escape "$DB_PASSWORD")}"
  printf '%s\n' "$t" > "$app/META-INF/context.xml"
}

check_tools
prepare_base
write_conf
build_webapp
echo "make-base.sh: $BASE ready (http://127.0.0.1:$HTTP_PORT/shop/, JDBC $JDBC_URL)"
