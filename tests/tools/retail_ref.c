/*
 * retail_ref.c - the exact answer for pipelines/retail.yaml, by brute force.
 *
 *   retail_ref IN_DIR OUT_DB
 *
 * Recomputes the gold, health and dimension tables of the retail flavor from
 * the files `sluice gen retail` wrote, without the engine's code: JSON through
 * SQLite's JSON1 (json_valid, json_type, json_extract), aggregates and exact
 * quantiles in SQL (window functions), the type-2 dimension in plain C.
 *
 * Input order: per stream (pos/, metrics/, entities/ *.ndjson), files whose
 * names do not start with '.' in byte order, lines in order.
 *
 * POS events, first rule that applies:
 *  1. not a JSON object -> malformed; event_id, items or ts present and not an
 *     integer or null, store_id/register_id/event_type not a string or null,
 *     amount not a number or null -> type
 *  2. event_id NULL, store_id or register_id NULL, ts NULL -> expectation
 *  3. t < max(t of earlier passing POS events) - 10 min -> late
 *  critical = event_type register_error or register_offline.
 * Metrics: as in telco_ref.c, with the range rule stock_level_pct <= 100;
 *  joined with entities.csv (entity_type, store_id).
 * Gold (window_start = floor(t / size) * size as 'YYYY-MM-DDTHH:MM:SSZ'):
 *  gold_events (5 min; store_id, register_id): events, sales, sales_amount,
 *    refund_amount, voids, items, critical_events.
 *  gold_performance_5min / _1h (entity_id, entity_type, store_id,
 *    metric_name): samples, avg/min/max, sample stddev, exact quantiles of
 *    rank floor(q (n - 1)).
 *  gold_entity_health (5 min; entity_id, entity_type, store_id):
 *    avg_queue_length, avg_payment_latency_ms, max_stockouts; queue_penalty
 *    (>8: 40, >5: 20, >3: 5), latency_penalty (>3000: 30, >1500: 15,
 *    >800: 5), stockouts_penalty (>10: 30, >5: 10), NULL for a NULL input;
 *    health_score = 100 - penalties clamped to 0..100; health_status.
 *  mv_entity_health: + critical events (a register's own; a store's: all its
 *    registers'), penalty >4: 30, >0: 10, health_score floor 0.
 *  dim_entities: the rule of telco_ref.c over (entity_type, store_id,
 *    region, format, software).
 * Also: counts(name, n). Exit status 0, 1 failure, 2 usage.
 */
#define REF_NAME "retail_ref"
#define REF_GROUP_COL "store_id"
static const char *const dim_attrs[] = {"entity_type", "store_id", "region", "format", "software"};
#include "ref_common.h"

static int metric_capped(const char *metric) { return !strcmp(metric, "stock_level_pct"); }

static sqlite3_stmt *pprobe;
static int64_t n_pos_type;

static void on_pos(const char *s, size_t len) {
    probe_line(pprobe, s, len, "pos probe");
    if (!sqlite3_column_int(pprobe, 0)) {
        n_log_parse++; /* malformed */
        return;
    }
    /* 1 event_id, 2 store_id, 3 register_id, 4 event_type, 5 amount, 6 items, 7 ts */
    static const int want_int[8] = {0, 1, 0, 0, 0, 0, 1, 1};
    const char *ty[8];
    for (int i = 1; i <= 7; i++) {
        ty[i] = (const char *)sqlite3_column_text(pprobe, i);
        if (!ty[i] || !strcmp(ty[i], "null")) {
            ty[i] = NULL;
            continue;
        }
        int bad = want_int[i] ? strcmp(ty[i], "integer") != 0
                  : i == 5    ? strcmp(ty[i], "integer") && strcmp(ty[i], "real")
                              : strcmp(ty[i], "text") != 0;
        if (bad) {
            n_pos_type++;
            return;
        }
    }
    if (!ty[1] || !ty[2] || !ty[3] || !ty[7]) {
        n_log_expect++;
        return;
    }
    int64_t t = sqlite3_column_int64(pprobe, 14);
    if (late(t, &max_log, &n_log_late)) return;
    n_log_ok++;
    sqlite3_reset(ins_log);
    for (int i = 1; i <= 6; i++)
        sqlite3_bind_value(ins_log, i, sqlite3_column_value(pprobe, 7 + i));
    sqlite3_bind_int64(ins_log, 7, t);
    if (sqlite3_step(ins_log) != SQLITE_DONE) die("insert pos");
}

int main(int argc, char **argv) {
    const char *in = ref_open(
        argc, argv,
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;"
        "CREATE TABLE silver_pos(event_id INT, store_id TEXT, register_id TEXT, event_type TEXT,"
        " amount REAL, items INT, ts INT);"
        "CREATE TABLE silver_metrics(entity_id TEXT, metric_name TEXT, value REAL, ts INT,"
        " entity_type TEXT, store_id TEXT);"
        "CREATE TABLE entities(entity_id TEXT PRIMARY KEY, entity_type TEXT, store_id TEXT);"
        "CREATE TABLE dim_entities(entity_id TEXT, entity_type TEXT, store_id TEXT, region TEXT,"
        " format TEXT, software TEXT, from_ms INT, to_ms INT, version INT, is_active INT,"
        " PRIMARY KEY(entity_id, from_ms));"
        "CREATE TABLE counts(name TEXT, n INT);");
    if (!in) return 2;
    load_entities_csv(in);

    sqlite3_prepare_v2(db, "INSERT INTO silver_pos VALUES(?,?,?,?,?,?,?)", -1, &ins_log, NULL);
    prepare_metrics();
    static const char *const pos_fields[] = {"event_id", "store_id", "register_id", "event_type",
                                             "amount",   "items",    "ts"};
    prepare_probe(&pprobe, pos_fields, 7, pos_fields, 7);
    prepare_dimension();
    each_stream(in, "pos", ".ndjson", on_pos);
    each_stream(in, "metrics", ".ndjson", on_metric);
    each_stream(in, "entities", ".ndjson", on_entity);

    exec("CREATE TABLE gold_events AS SELECT " WS(
        "ts",
        "300000") " AS window_start, store_id, "
                  "register_id, count(*) AS events, sum(event_type = 'sale') AS sales, "
                  "total(CASE WHEN event_type = 'sale' THEN amount ELSE 0 END) AS sales_amount, "
                  "total(CASE WHEN event_type = 'refund' THEN amount ELSE 0 END) AS refund_amount, "
                  "sum(event_type = 'void') AS voids, sum(items) AS items, "
                  "sum(event_type IN ('register_error', 'register_offline')) AS critical_events "
                  "FROM silver_pos GROUP BY 1, 2, 3");
    perf("gold_performance_5min", "300000");
    perf("gold_performance_1h", "3600000");
    exec("CREATE TABLE gold_entity_health AS WITH m AS (SELECT " WS(
        "ts",
        "300000") " AS window_start, entity_id, entity_type, store_id, count(*) AS samples,"
                  " avg(CASE WHEN metric_name = 'queue_length' THEN value END) AS avg_queue_length,"
                  " avg(CASE WHEN metric_name = 'payment_latency_ms' THEN value END) AS "
                  "avg_payment_latency_ms,"
                  " max(CASE WHEN metric_name = 'stockouts' THEN value END) AS max_stockouts"
                  " FROM silver_metrics GROUP BY 1, 2, 3, 4), p AS (SELECT *,"
                  " CASE WHEN avg_queue_length IS NULL THEN NULL WHEN avg_queue_length > 8 THEN 40"
                  "      WHEN avg_queue_length > 5 THEN 20 WHEN avg_queue_length > 3 THEN 5 ELSE 0 "
                  "END AS queue_penalty,"
                  " CASE WHEN avg_payment_latency_ms IS NULL THEN NULL WHEN avg_payment_latency_ms "
                  "> 3000 THEN 30"
                  "      WHEN avg_payment_latency_ms > 1500 THEN 15 WHEN avg_payment_latency_ms > "
                  "800 THEN 5 ELSE 0 END"
                  "   AS latency_penalty,"
                  " CASE WHEN max_stockouts IS NULL THEN NULL WHEN max_stockouts > 10 THEN 30"
                  "      WHEN max_stockouts > 5 THEN 10 ELSE 0 END AS stockouts_penalty FROM m),"
                  " s AS (SELECT *, 100 - coalesce(queue_penalty, 0) - coalesce(latency_penalty, 0)"
                  "   - coalesce(stockouts_penalty, 0) AS raw_score FROM p)"
                  " SELECT *, max(0, min(100, raw_score)) AS health_score,"
                  " CASE WHEN raw_score >= 80 THEN 'healthy' WHEN raw_score >= 50 THEN 'degraded'"
                  "      ELSE 'critical' END AS health_status FROM s");
    exec("CREATE TABLE mv_entity_health AS WITH r AS (SELECT window_start, register_id AS"
         " entity_id, sum(critical_events) AS n FROM gold_events GROUP BY 1, 2),"
         " st AS (SELECT window_start, store_id AS entity_id, sum(critical_events) AS n"
         " FROM gold_events GROUP BY 1, 2),"
         " j AS (SELECT h.window_start, h.entity_id, h.entity_type, h.store_id,"
         " coalesce(h.queue_penalty, 0) + coalesce(h.latency_penalty, 0) +"
         " coalesce(h.stockouts_penalty, 0) AS metric_penalty,"
         " coalesce(CASE WHEN h.entity_type = 'store' THEN st.n ELSE r.n END, 0) AS critical_events"
         " FROM gold_entity_health h LEFT JOIN r USING (window_start, entity_id)"
         " LEFT JOIN st USING (window_start, entity_id))"
         " SELECT *, CASE WHEN critical_events > 4 THEN 30 WHEN critical_events > 0 THEN 10 ELSE 0"
         " END AS critical_events_penalty, max(0, 100 - metric_penalty -"
         " CASE WHEN critical_events > 4 THEN 30 WHEN critical_events > 0 THEN 10 ELSE 0 END)"
         " AS health_score FROM j");
    exec("CREATE VIEW dim_entities_text AS SELECT entity_id, entity_type, store_id, region,"
         " format, software, " TSTXT(
             "from_ms") " AS effective_from, CASE WHEN to_ms IS NULL THEN"
                        " NULL ELSE " TSTXT(
                            "to_ms") " END AS effective_to, version, is_active FROM dim_entities");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO counts VALUES ('pos_ok', %" PRId64 "), ('pos_malformed', %" PRId64
             "), ('pos_type', %" PRId64 "), ('pos_expect', %" PRId64 "), ('pos_late', %" PRId64
             "), ('metric_ok', %" PRId64 "), ('metric_malformed', %" PRId64
             "), ('metric_type', %" PRId64 "), ('metric_expect', %" PRId64
             "), ('metric_late', %" PRId64 ")",
             n_log_ok, n_log_parse, n_pos_type, n_log_expect, n_log_late, n_met_ok, n_met_malformed,
             n_met_type, n_met_expect, n_met_late);
    exec(sql);
    exec("COMMIT");
    printf("pos: ok=%" PRId64 " malformed=%" PRId64 " type=%" PRId64 " expect=%" PRId64
           " late=%" PRId64 "; metrics: ok=%" PRId64 " malformed=%" PRId64 " type=%" PRId64
           " expect=%" PRId64 " late=%" PRId64 "; entities=%zu\n",
           n_log_ok, n_log_parse, n_pos_type, n_log_expect, n_log_late, n_met_ok, n_met_malformed,
           n_met_type, n_met_expect, n_met_late, ncur);
    sqlite3_finalize(pprobe);
    ref_close();
    return 0;
}
