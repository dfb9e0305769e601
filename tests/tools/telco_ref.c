/*
 * telco_ref.c - the exact answer for pipelines/telco.yaml, by brute force.
 *
 *   telco_ref IN_DIR OUT_DB
 *
 * Recomputes the gold, health and dimension tables of the telco flavor from
 * the files `sluice gen telco` wrote, without the engine's code: syslog lines
 * are split by the small RFC 5424 reader below (enough for the generator's
 * shapes, strict where the engine is strict: PRI 0..191, month 1..12, a
 * closed SD element), JSON through SQLite's JSON1 (json_valid, json_type,
 * json_extract), aggregates and exact quantiles in SQL (window functions),
 * the type-2 dimension with plain C arrays.
 *
 * Input order: per stream (logs/ *.log, metrics/ *.ndjson, entities/ *.ndjson),
 * files whose names do not start with '.' in byte order, lines in order.
 *
 * Logs, first rule that applies:
 *  1. not "<PRI>1 " with PRI 0..191, or a bad TIMESTAMP month, or an SD
 *     element without its closing '"]'      -> quarantined (parse)
 *     a line that does not start with '<'    -> quarantined (expectation:
 *     the engine's RFC 3164 fallback gives no hostname)
 *  2. t < max(t of earlier passing log lines) - 10 min -> late
 *  Silver: entity_id = HOSTNAME, category = the SD param category,
 *  severity = PRI % 8.
 * Metrics, first rule that applies:
 *  1. not a JSON object -> malformed; entity_id/metric_name/unit present and
 *     not a string or null, value not a number or null, ts not an integer or
 *     null -> type
 *  2. entity_id NULL, ts NULL, value NULL or < 0, or a cpu_util/mem_util/
 *     packet_loss value > 100 -> expectation
 *  3. late as for logs (own maximum)
 *  Silver: joined with entities.csv (entity_type, location).
 * Gold (window_start = floor(t / size) * size as 'YYYY-MM-DDTHH:MM:SSZ'):
 *  gold_events (5 min; entity_id, event_category): events, critical_events
 *    (severity <= 2), error_events (severity <= 3).
 *  gold_performance_5min / _1h (entity_id, entity_type, location,
 *    metric_name): samples, avg/min/max, sample stddev, and the exact
 *    quantiles q50/q95/q99 = the value of rank floor(q (n - 1)) in order.
 *  gold_entity_health (5 min; entity_id, entity_type, location): avg_cpu,
 *    avg_packet_loss, cpu_penalty (>90: 40, >75: 20, >60: 5, else 0; NULL
 *    when avg_cpu is NULL), packet_loss_penalty (>5: 30, >1: 15, >0.5: 5),
 *    health_score = 100 - penalties (NULL = 0) clamped to 0..100.
 *  mv_entity_health: + critical_events of gold_events summed over categories,
 *    critical_events_penalty (>4: 30, >0: 10), health_score as seed 000.
 *  gold_critical_5min (5 min; entity_id): critical_events (severity <= 2).
 *  gold_entity_health_full: every gold_entity_health row with the entity's
 *    critical_events of the same window (0 when it has no log line there),
 *    penalties NULL = 0, critical_events_penalty, health_score =
 *    max(0, 100 - the three penalties) and health_status (>= 80 healthy,
 *    >= 50 degraded, else critical) of that score.
 *  dim_entities: per entity_id, attribute records in input order: the first
 *    opens version 1; a record with the same (entity_type, location, vendor,
 *    firmware) does nothing; older than the current version's start: ignored;
 *    same start: corrects it; later: closes it (effective_to = t) and opens
 *    the next version.
 * Also: counts(name, n). Exit status 0, 1 failure, 2 usage.
 */
#define REF_NAME "telco_ref"
#define REF_GROUP_COL "location"
static const char *const dim_attrs[] = {"entity_type", "location", "vendor", "firmware"};
#include "ref_common.h"

static int metric_capped(const char *metric) {
    return !strcmp(metric, "cpu_util") || !strcmp(metric, "mem_util") ||
           !strcmp(metric, "packet_loss");
}

static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void on_log(const char *s, size_t len) {
    (void)len;
    if (s[0] != '<') {
        n_log_expect++;
        return;
    }
    int pri, n = 0;
    if (sscanf(s, "<%d>1 %n", &pri, &n) != 1 || n == 0 || pri < 0 || pri > 191) {
        n_log_parse++;
        return;
    }
    const char *p = s + n;
    int Y, M, D, h, mi, sec, ms, k = 0;
    if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &Y, &M, &D, &h, &mi, &sec, &ms, &k) != 7 ||
        M < 1 || M > 12) {
        n_log_parse++;
        return;
    }
    p += k;
    char host[64], app[64], proc[32], msgid[64];
    k = 0;
    if (sscanf(p, "%63s %63s %31s %63s %n", host, app, proc, msgid, &k) != 4) {
        n_log_parse++;
        return;
    }
    p += k;
    const char *cat = strstr(p, "category=\"");
    const char *close = strstr(p, "\"]");
    if (*p != '[' || !close || !cat) {
        n_log_parse++;
        return;
    }
    cat += 10;
    const char *ce = strchr(cat, '"');
    int64_t t = (days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + ms;
    if (late(t, &max_log, &n_log_late)) return;
    n_log_ok++;
    sqlite3_reset(ins_log);
    sqlite3_bind_text(ins_log, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins_log, 2, cat, (int)(ce - cat), SQLITE_TRANSIENT);
    sqlite3_bind_int(ins_log, 3, pri % 8);
    sqlite3_bind_int64(ins_log, 4, t);
    if (sqlite3_step(ins_log) != SQLITE_DONE) die("insert log");
}

int main(int argc, char **argv) {
    const char *in = ref_open(
        argc, argv,
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;"
        "CREATE TABLE silver_logs(entity_id TEXT, event_category TEXT, severity INT, ts INT);"
        "CREATE TABLE silver_metrics(entity_id TEXT, metric_name TEXT, value REAL, ts INT,"
        " entity_type TEXT, location TEXT);"
        "CREATE TABLE entities(entity_id TEXT PRIMARY KEY, entity_type TEXT, location TEXT);"
        "CREATE TABLE dim_entities(entity_id TEXT, entity_type TEXT, location TEXT, vendor TEXT,"
        " firmware TEXT, from_ms INT, to_ms INT, version INT, is_active INT,"
        " PRIMARY KEY(entity_id, from_ms));"
        "CREATE TABLE counts(name TEXT, n INT);");
    if (!in) return 2;
    load_entities_csv(in);

    sqlite3_prepare_v2(db, "INSERT INTO silver_logs VALUES(?,?,?,?)", -1, &ins_log, NULL);
    prepare_metrics();
    prepare_dimension();
    each_stream(in, "logs", ".log", on_log);
    each_stream(in, "metrics", ".ndjson", on_metric);
    each_stream(in, "entities", ".ndjson", on_entity);

    exec("CREATE TABLE gold_events AS SELECT " WS(
        "ts",
        "300000") " AS window_start, entity_id, "
                  "event_category, count(*) AS events, sum(severity <= 2) AS critical_events, "
                  "sum(severity <= 3) AS error_events FROM silver_logs GROUP BY 1, 2, 3");
    perf("gold_performance_5min", "300000");
    perf("gold_performance_1h", "3600000");
    exec("CREATE TABLE gold_entity_health AS WITH m AS (SELECT " WS(
        "ts",
        "300000") " AS window_start, entity_id, entity_type, location, count(*) AS samples,"
                  " avg(CASE WHEN metric_name = 'cpu_util' THEN value END) AS avg_cpu,"
                  " avg(CASE WHEN metric_name = 'packet_loss' THEN value END) AS avg_packet_loss"
                  " FROM silver_metrics GROUP BY 1, 2, 3, 4), p AS (SELECT *,"
                  " CASE WHEN avg_cpu IS NULL THEN NULL WHEN avg_cpu > 90 THEN 40 WHEN avg_cpu > "
                  "75 THEN 20"
                  "      WHEN avg_cpu > 60 THEN 5 ELSE 0 END AS cpu_penalty,"
                  " CASE WHEN avg_packet_loss IS NULL THEN NULL WHEN avg_packet_loss > 5 THEN 30"
                  "      WHEN avg_packet_loss > 1 THEN 15 WHEN avg_packet_loss > 0.5 THEN 5 ELSE 0 "
                  "END"
                  "   AS packet_loss_penalty FROM m)"
                  " SELECT *, max(0, min(100, 100 - coalesce(cpu_penalty, 0) - "
                  "coalesce(packet_loss_penalty, 0)))"
                  "   AS health_score,"
                  " CASE WHEN 100 - coalesce(cpu_penalty, 0) - coalesce(packet_loss_penalty, 0) >= "
                  "80 THEN 'healthy'"
                  "      WHEN 100 - coalesce(cpu_penalty, 0) - coalesce(packet_loss_penalty, 0) >= "
                  "50 THEN 'degraded'"
                  "      ELSE 'critical' END AS health_status FROM p");
    exec("CREATE TABLE mv_entity_health AS WITH c AS (SELECT window_start, entity_id,"
         " sum(critical_events) AS critical_events FROM gold_events GROUP BY 1, 2),"
         " j AS (SELECT h.window_start, h.entity_id, h.entity_type, h.location,"
         " coalesce(h.cpu_penalty, 0) AS cpu_penalty, coalesce(h.packet_loss_penalty, 0) AS"
         " packet_loss_penalty, coalesce(c.critical_events, 0) AS critical_events"
         " FROM gold_entity_health h LEFT JOIN c USING (window_start, entity_id))"
         " SELECT *, CASE WHEN critical_events > 4 THEN 30 WHEN critical_events > 0 THEN 10 ELSE 0"
         " END AS critical_events_penalty, max(0, 100 - cpu_penalty - packet_loss_penalty -"
         " CASE WHEN critical_events > 4 THEN 30 WHEN critical_events > 0 THEN 10 ELSE 0 END)"
         " AS health_score FROM j");
    exec("CREATE TABLE gold_critical_5min AS SELECT " WS(
        "ts", "300000") " AS window_start, entity_id, sum(severity <= 2) AS critical_events"
                        " FROM silver_logs GROUP BY 1, 2");
    exec(
        "CREATE TABLE gold_entity_health_full AS WITH j AS (SELECT h.window_start, h.entity_id,"
        " h.entity_type, h.location, h.samples, h.avg_cpu, h.avg_packet_loss,"
        " coalesce(h.cpu_penalty, 0) AS cpu_penalty, coalesce(h.packet_loss_penalty, 0) AS"
        " packet_loss_penalty, coalesce(c.critical_events, 0) AS critical_events"
        " FROM gold_entity_health h LEFT JOIN gold_critical_5min c USING (window_start, "
        "entity_id)),"
        " s AS (SELECT *, CASE WHEN critical_events > 4 THEN 30 WHEN critical_events > 0 THEN 10"
        " ELSE 0 END AS critical_events_penalty FROM j),"
        " h AS (SELECT *, max(0, 100 - cpu_penalty - packet_loss_penalty - critical_events_penalty)"
        " AS health_score FROM s)"
        " SELECT *, CASE WHEN health_score >= 80 THEN 'healthy' WHEN health_score >= 50 THEN"
        " 'degraded' ELSE 'critical' END AS health_status FROM h");
    exec("CREATE VIEW dim_entities_text AS SELECT entity_id, entity_type, location, vendor,"
         " firmware, " TSTXT(
             "from_ms") " AS effective_from, CASE WHEN to_ms IS NULL THEN NULL"
                        " ELSE " TSTXT(
                            "to_ms") " END AS effective_to, version, is_active FROM dim_entities");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO counts VALUES ('log_ok', %" PRId64 "), ('log_parse', %" PRId64
             "), ('log_expect', %" PRId64 "), ('log_late', %" PRId64 "), ('metric_ok', %" PRId64
             "), ('metric_malformed', %" PRId64 "), ('metric_type', %" PRId64
             "), ('metric_expect', %" PRId64 "), ('metric_late', %" PRId64 ")",
             n_log_ok, n_log_parse, n_log_expect, n_log_late, n_met_ok, n_met_malformed, n_met_type,
             n_met_expect, n_met_late);
    exec(sql);
    exec("COMMIT");
    printf("logs: ok=%" PRId64 " parse=%" PRId64 " expect=%" PRId64 " late=%" PRId64
           "; metrics: ok=%" PRId64 " malformed=%" PRId64 " type=%" PRId64 " expect=%" PRId64
           " late=%" PRId64 "; entities=%zu\n",
           n_log_ok, n_log_parse, n_log_expect, n_log_late, n_met_ok, n_met_malformed, n_met_type,
           n_met_expect, n_met_late, ncur);
    ref_close();
    return 0;
}
