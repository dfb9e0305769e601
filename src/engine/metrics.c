/*
 * metrics.c - what the pipeline says about itself: the Prometheus text
 * served by /metrics (rebuilt at every commit, so it always describes
 * committed state), the freshness histogram, and the status lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/runtime.h"

static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                    1,     2.5,  5,     10,   30,  60};
#define NLAT (sizeof lat_bounds / sizeof lat_bounds[0])
_Static_assert(NLAT < 16, "run.lat_bucket holds NLAT + 1 buckets");

int64_t sl__engine_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    int64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    fclose(f);
    return kb;
}

static void mput(run *R, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void mput(run *R, size_t *n, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(R->metrics + *n, R->metrics_cap - *n, fmt, ap);
        va_end(ap);
        if (w >= 0 && *n + (size_t)w < R->metrics_cap) {
            *n += (size_t)w;
            return;
        }
        R->metrics_cap = R->metrics_cap * 2 + (size_t)(w > 0 ? w : 0) + 4096;
        R->metrics = sl_xrealloc(R->metrics, R->metrics_cap);
    }
}

/* One sluice_source_partition_position line (at most 1000 per source); the
 * partition's name is a label value, so '"', '\\' and newlines are escaped. */
typedef struct {
    run *R;
    size_t *n;
    const char *pl, *source;
    int count;
    bool *help;
} part_metric;

static void put_partition(void *ud, const char *part, int64_t pos) {
    part_metric *m = ud;
    if (m->count++ >= 1000) return;
    if (!*m->help) {
        mput(m->R, m->n,
             "# HELP sluice_source_partition_position Position of a source partition (http: "
             "records received from the client address).\n# TYPE "
             "sluice_source_partition_position gauge\n");
        *m->help = true;
    }
    char esc[256];
    size_t k = 0;
    for (const char *c = part; *c && k < sizeof esc - 3; c++) {
        if (*c == '"' || *c == '\\') esc[k++] = '\\';
        esc[k++] = *c == '\n' ? ' ' : *c;
    }
    esc[k] = 0;
    mput(m->R, m->n,
         "sluice_source_partition_position{pipeline=\"%s\",source=\"%s\",partition=\"%s\"} %lld\n",
         m->pl, m->source, esc, (long long)pos);
}

/* Prometheus text exposition of the pipeline's counters, rebuilt at every
 * commit (so it always describes committed state) and served by /metrics. */
void sl__engine_build_metrics(run *R) {
    size_t n = 0;
    if (!R->metrics) {
        R->metrics_cap = 16384;
        R->metrics = sl_xmalloc(R->metrics_cap);
    }
    const char *pl = R->p->name;
#define COUNTER(name, help, val)                                                                   \
    mput(R, &n,                                                                                    \
         "# HELP sluice_" name " " help "\n# TYPE sluice_" name " counter\nsluice_" name           \
         "{pipeline=\"%s\"} %lld\n",                                                               \
         pl, (long long)(val))
    COUNTER("records_in_total", "Records read from sources.", R->t_in);
    COUNTER("parse_errors_total", "Records that could not be parsed (quarantined).", R->t_parse);
    COUNTER("quarantined_total", "Records sent to the quarantine table.", R->t_quar);
    COUNTER("late_total", "Records behind the watermark.", R->t_late);
    COUNTER("duplicates_total", "Duplicate records found by dedupe steps.", R->t_dup);
    COUNTER("filtered_total", "Rows removed by filters and inner lookups.", R->t_filt);
    COUNTER("dropped_total", "Rows dropped by expectations or late policy.", R->t_drop);
    COUNTER("commits_total", "Commits made.", R->commit_id);
#undef COUNTER
    mput(R, &n,
         "# HELP sluice_disk_free_bytes Free space of the data directory's file system "
         "(checked once a second).\n# TYPE sluice_disk_free_bytes gauge\n"
         "sluice_disk_free_bytes{pipeline=\"%s\"} %lld\n"
         "# HELP sluice_input_paused 1 while reading is paused, by reason (disk: below the "
         "disk watermark).\n# TYPE sluice_input_paused gauge\n"
         "sluice_input_paused{pipeline=\"%s\",reason=\"disk\"} %d\n",
         pl, (long long)R->disk_free, pl, R->disk_paused ? 1 : 0);
    mput(R, &n,
         "# HELP sluice_table_rows_in_total Rows entering a table.\n# TYPE "
         "sluice_table_rows_in_total counter\n");
    for (int i = 0; i < R->p->nt; i++)
        mput(R, &n, "sluice_table_rows_in_total{pipeline=\"%s\",table=\"%s\"} %lld\n", pl,
             R->p->t[i].name, (long long)R->p->t[i].rows_total_in);
    mput(R, &n,
         "# HELP sluice_table_rows_out_total Rows a table wrote (window tables: row upserts).\n# "
         "TYPE sluice_table_rows_out_total counter\n");
    for (int i = 0; i < R->p->nt; i++)
        mput(R, &n, "sluice_table_rows_out_total{pipeline=\"%s\",table=\"%s\"} %lld\n", pl,
             R->p->t[i].name, (long long)R->p->t[i].rows_total_out);
    mput(R, &n,
         "# HELP sluice_table_rows_expired_total Rows deleted by the table's retention (sqlite "
         "tables).\n# TYPE sluice_table_rows_expired_total counter\n");
    for (int i = 0; i < R->p->nt; i++)
        if (R->p->t[i].retention_us > 0 && R->p->t[i].store == STORE_SQLITE)
            mput(R, &n, "sluice_table_rows_expired_total{pipeline=\"%s\",table=\"%s\"} %lld\n", pl,
                 R->p->t[i].name, (long long)R->p->t[i].rows_total_expired);
    /* the steps' own series (typed stats with a metric), one HELP/TYPE per metric */
    sl_op_stat st[SL_OP_MAX_STATS];
    const char *done[32];
    int ndone = 0;
    for (int pass = 0; pass < 32; pass++) {
        const char *metric = NULL, *help = "";
        bool gauge = false;
        for (int i = 0; i < R->p->nt; i++)
            for (int s = 0; s < R->p->t[i].nsteps; s++) {
                step *sp = &R->p->t[i].steps[s];
                if (!sp->def->stats) continue;
                int k = sp->def->stats(sp->self, st, SL_OP_MAX_STATS);
                for (int j = 0; j < k; j++) {
                    if (!st[j].metric) continue;
                    bool seen = false;
                    for (int d = 0; d < ndone; d++)
                        seen |= !strcmp(done[d], st[j].metric);
                    if (seen) continue;
                    if (!metric) {
                        metric = st[j].metric, help = st[j].metric_help ? st[j].metric_help : "",
                        gauge = st[j].gauge;
                        mput(R, &n, "# HELP sluice_%s %s\n# TYPE sluice_%s %s\n", metric, help,
                             metric, gauge ? "gauge" : "counter");
                    }
                    if (strcmp(metric, st[j].metric)) continue;
                    mput(R, &n, "sluice_%s{pipeline=\"%s\",table=\"%s\"%s%s} %.17g\n", metric, pl,
                         R->p->t[i].name, st[j].labels ? "," : "", st[j].labels ? st[j].labels : "",
                         st[j].value);
                }
            }
        if (!metric) break;
        done[ndone++] = metric;
    }
    int64_t now = sl_now_us();
    mput(R, &n,
         "# HELP sluice_watermark_lag_seconds Wall clock minus the event-time watermark.\n# TYPE "
         "sluice_watermark_lag_seconds gauge\n");
    int64_t pwm = sl__engine_pipeline_wm(R);
    mput(R, &n, "sluice_watermark_lag_seconds{pipeline=\"%s\"} %.3f\n", pl,
         pwm == INT64_MIN ? 0.0 : (double)(now - pwm) / 1e6);
    mput(R, &n,
         "# HELP sluice_table_watermark_seconds Event-time watermark of the rows a table passes on "
         "(Unix seconds).\n# TYPE sluice_table_watermark_seconds gauge\n");
    for (int i = 0; i < R->p->nt; i++)
        if (R->p->t[i].wm_out != INT64_MIN)
            mput(R, &n, "sluice_table_watermark_seconds{pipeline=\"%s\",table=\"%s\"} %.3f\n", pl,
                 R->p->t[i].name, (double)R->p->t[i].wm_out / 1e6);
    mput(R, &n,
         "# HELP sluice_commit_duration_seconds Duration of the last commit.\n# TYPE "
         "sluice_commit_duration_seconds gauge\n");
    mput(R, &n, "sluice_commit_duration_seconds{pipeline=\"%s\"} %.6f\n", pl,
         R->last_commit_ms / 1000.0);
    mput(R, &n,
         "# HELP sluice_last_commit_timestamp_seconds Wall-clock time of the last commit "
         "(checkpoint age = now - this).\n# TYPE sluice_last_commit_timestamp_seconds gauge\n");
    mput(R, &n, "sluice_last_commit_timestamp_seconds{pipeline=\"%s\"} %.3f\n", pl,
         (double)R->last_commit_wall_us / 1e6);
    sl_source_stats sst[SL_MAX_SOURCES];
    int64_t files = 0, bytes = 0;
    bool lag = false, filtered = false;
    for (int s = 0; s < R->p->nsrc; s++) {
        sl_input_stats(&R->p->src[s], &sst[s]);
        files += sst[s].files_waiting > 0 ? sst[s].files_waiting : 0;
        bytes += sst[s].bytes_waiting > 0 ? sst[s].bytes_waiting : 0;
        lag |= sst[s].consumer_lag >= 0;
        filtered |= sst[s].filtered >= 0;
    }
    mput(R, &n,
         "# HELP sluice_source_files_waiting Landing files with unread bytes.\n# TYPE "
         "sluice_source_files_waiting gauge\n");
    mput(R, &n, "sluice_source_files_waiting{pipeline=\"%s\"} %lld\n", pl, (long long)files);
    mput(R, &n,
         "# HELP sluice_source_bytes_waiting Unread bytes in landing files.\n# TYPE "
         "sluice_source_bytes_waiting gauge\n");
    mput(R, &n, "sluice_source_bytes_waiting{pipeline=\"%s\"} %lld\n", pl, (long long)bytes);
    /* the Kafka gauges only for the sources that report them */
    if (lag) {
        mput(R, &n,
             "# HELP sluice_kafka_consumer_lag Messages between the consumer's position and the "
             "partitions' high watermarks.\n# TYPE sluice_kafka_consumer_lag gauge\n");
        for (int s = 0; s < R->p->nsrc; s++)
            if (sst[s].consumer_lag >= 0)
                mput(R, &n, "sluice_kafka_consumer_lag{pipeline=\"%s\",source=\"%s\"} %lld\n", pl,
                     R->p->src[s].name, (long long)sst[s].consumer_lag);
    }
    if (filtered) {
        mput(R, &n,
             "# HELP sluice_kafka_filtered_total Messages rejected by the header/key filter before "
             "parsing.\n# TYPE sluice_kafka_filtered_total counter\n");
        for (int s = 0; s < R->p->nsrc; s++)
            if (sst[s].filtered >= 0)
                mput(R, &n, "sluice_kafka_filtered_total{pipeline=\"%s\",source=\"%s\"} %lld\n", pl,
                     R->p->src[s].name, (long long)sst[s].filtered);
    }
    mput(R, &n,
         "# HELP sluice_source_dropped_total Messages a syslog UDP listener dropped on a full "
         "queue.\n# TYPE sluice_source_dropped_total counter\n");
    for (int s = 0; s < R->p->nsrc; s++)
        if (sst[s].dropped >= 0)
            mput(R, &n, "sluice_source_dropped_total{pipeline=\"%s\",source=\"%s\"} %lld\n", pl,
                 R->p->src[s].name, (long long)sst[s].dropped);
    /* network listeners' counters, for the sources that report them */
    static const struct {
        const char *name, *help;
        size_t off;
    } net[] = {
        {"sluice_source_framing_errors_total", "Bad frames (syslog TCP octet counts).",
         offsetof(sl_source_stats, framing_errors)},
        {"sluice_source_truncated_total", "Messages cut to the maximum message size.",
         offsetof(sl_source_stats, truncated)},
        {"sluice_source_refused_connections_total",
         "Connections refused by the per-address or total connection cap.",
         offsetof(sl_source_stats, refused)},
        {"sluice_source_idle_closed_total", "Connections closed after the idle timeout.",
         offsetof(sl_source_stats, idle_closed)},
        {"sluice_source_accept_errors_total",
         "Connections not accepted for lack of file descriptors (each pauses accepting 1 s).",
         offsetof(sl_source_stats, accept_errors)},
    };
    for (size_t k = 0; k < sizeof net / sizeof net[0]; k++) {
        bool any = false;
        for (int s = 0; s < R->p->nsrc; s++) {
            int64_t v = *(const int64_t *)((const char *)&sst[s] + net[k].off);
            if (v < 0) continue;
            if (!any)
                mput(R, &n, "# HELP %s %s\n# TYPE %s counter\n", net[k].name, net[k].help,
                     net[k].name);
            any = true;
            mput(R, &n, "%s{pipeline=\"%s\",source=\"%s\"} %lld\n", net[k].name, pl,
                 R->p->src[s].name, (long long)v);
        }
    }
    /* partitions named by network peers (http client addresses) */
    bool parts_help = false;
    for (int s = 0; s < R->p->nsrc; s++) {
        part_metric pm = {R, &n, pl, R->p->src[s].name, 0, &parts_help};
        sl_input_each_partition(&R->p->src[s], put_partition, &pm);
    }
    mput(R, &n,
         "# HELP sluice_freshness_seconds Time from a record being read to its commit (visible in "
         "every table).\n# TYPE sluice_freshness_seconds histogram\n");
    int64_t cum = 0;
    for (size_t k = 0; k < NLAT; k++) {
        cum += R->lat_bucket[k];
        mput(R, &n, "sluice_freshness_seconds_bucket{pipeline=\"%s\",le=\"%g\"} %lld\n", pl,
             lat_bounds[k], (long long)cum);
    }
    mput(R, &n, "sluice_freshness_seconds_bucket{pipeline=\"%s\",le=\"+Inf\"} %lld\n", pl,
         (long long)R->lat_count);
    mput(R, &n,
         "sluice_freshness_seconds_sum{pipeline=\"%s\"} "
         "%.6f\nsluice_freshness_seconds_count{pipeline=\"%s\"} %lld\n",
         pl, R->lat_sum_s, pl, (long long)R->lat_count);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    mput(R, &n,
         "# HELP sluice_process_cpu_seconds_total CPU time used by the process.\n# TYPE "
         "sluice_process_cpu_seconds_total counter\n");
    mput(R, &n, "sluice_process_cpu_seconds_total{pipeline=\"%s\"} %.3f\n", pl, cpu);
    mput(R, &n,
         "# HELP sluice_process_max_resident_memory_bytes Peak resident memory.\n# TYPE "
         "sluice_process_max_resident_memory_bytes gauge\n");
    mput(R, &n, "sluice_process_max_resident_memory_bytes{pipeline=\"%s\"} %lld\n", pl,
         (long long)ru.ru_maxrss * 1024);
    const sl_alerts *al = R->p->alerts;
    if (sl_alerts_nrules(al)) {
        mput(R, &n,
             "# HELP sluice_alerts_firing Alert instances (rule and key) firing now.\n# TYPE "
             "sluice_alerts_firing gauge\n");
        for (int i = 0; i < sl_alerts_nrules(al); i++)
            mput(R, &n, "sluice_alerts_firing{pipeline=\"%s\",rule=\"%s\"} %lld\n", pl,
                 sl_alert_rule_name(sl_alerts_rule((sl_alerts *)al, i)),
                 (long long)sl_alerts_firing(al, i));
    }
    if (R->deliverer) {
        sl_channel_stats cs[32];
        int nc = sl_deliverer_stats(R->deliverer, cs, 32);
        mput(R, &n,
             "# HELP sluice_notifications_total Alert notifications by channel and result.\n"
             "# TYPE sluice_notifications_total counter\n");
        for (int i = 0; i < nc; i++) {
            mput(R, &n,
                 "sluice_notifications_total{pipeline=\"%s\",channel=\"%s\",result=\"sent\"} "
                 "%lld\n",
                 pl, cs[i].name, (long long)cs[i].sent);
            mput(R, &n,
                 "sluice_notifications_total{pipeline=\"%s\",channel=\"%s\",result=\"failed\"} "
                 "%lld\n",
                 pl, cs[i].name, (long long)cs[i].failed);
            mput(R, &n,
                 "sluice_notifications_total{pipeline=\"%s\",channel=\"%s\",result=\"retry\"} "
                 "%lld\n",
                 pl, cs[i].name, (long long)cs[i].retries);
        }
        mput(R, &n,
             "# HELP sluice_notifications_pending Alert notifications waiting in the outbox.\n"
             "# TYPE sluice_notifications_pending gauge\n");
        for (int i = 0; i < nc; i++)
            mput(R, &n, "sluice_notifications_pending{pipeline=\"%s\",channel=\"%s\"} %lld\n", pl,
                 cs[i].name, (long long)cs[i].pending);
    }
}

/* A lag or duration for people: 850ms, 4.2s, 2m30s, 3h5m. */
static void human_duration(double s, char *out, size_t cap) {
    if (s < 0) s = 0;
    if (s < 1)
        snprintf(out, cap, "%.0fms", s * 1e3);
    else if (s < 60)
        snprintf(out, cap, "%.1fs", s);
    else
        sl_duration_format((int64_t)(s + 0.5) * SL_US_PER_SEC, out, cap);
}

/* 48123 -> "48.1k"; 3400000 -> "3.40M". */
static void human_count(double v, char *out, size_t cap) {
    if (v < 1e4)
        snprintf(out, cap, "%.0f", v);
    else if (v < 1e6)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else if (v < 1e9)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else
        snprintf(out, cap, "%.2fG", v / 1e9);
}

static void human_bytes(double v, char *out, size_t cap) {
    if (v < 1024)
        snprintf(out, cap, "%.0f B", v);
    else if (v < 1024.0 * 1024)
        snprintf(out, cap, "%.1f KiB", v / 1024);
    else if (v < 1024.0 * 1024 * 1024)
        snprintf(out, cap, "%.1f MiB", v / 1024 / 1024);
    else
        snprintf(out, cap, "%.2f GiB", v / 1024 / 1024 / 1024);
}

/* Counters as key=value (machine-greppable, exact), with the session's and
 * the pipeline's totals labelled (rows written per layer are counted per
 * process, so they are session figures), and rates and lags in human units. */
void sl__engine_status_line(run *R, bool final) {
    int64_t now = sl_monotonic_us();
    double dt = (double)(now - R->last_status_us) / 1e6;
    int64_t in = R->t_in + R->c_in;
    double rate = dt > 0 ? (double)(in - R->last_status_in) / dt : 0;
    if (final) { /* the session's average, not the last interval's */
        double up = (double)(now - R->started_us) / 1e6;
        rate = up > 0 ? (double)(in - R->s0_in) / up : 0;
    }
    int64_t silver = 0, gold = 0;
    for (int i = 0; i < R->p->nt; i++) {
        table *t = &R->p->t[i];
        if (t->layer == LAYER_SILVER) silver += t->rows_total_out + t->rows_out;
        if (t->layer == LAYER_GOLD) gold += t->rows_total_out + t->rows_out;
    }
    int64_t pending = 0, lag = 0, filtered = 0;
    bool kafka = false; /* a source reports consumer lag */
    for (int s = 0; s < R->p->nsrc; s++) {
        sl_source_stats st;
        sl_input_stats(&R->p->src[s], &st);
        pending += st.files_waiting > 0 ? st.files_waiting : 0;
        lag += st.consumer_lag > 0 ? st.consumer_lag : 0;
        filtered += st.filtered > 0 ? st.filtered : 0;
        kafka |= st.consumer_lag >= 0;
    }
    int64_t pwm = sl__engine_pipeline_wm(R);
    char wm_lag[32] = "none", up[32], rate_s[32];
    if (pwm != INT64_MIN) human_duration((double)(sl_now_us() - pwm) / 1e6, wm_lag, sizeof wm_lag);
    human_duration((double)(now - R->started_us) / 1e6, up, sizeof up);
    human_count(rate, rate_s, sizeof rate_s);
    char kinfo[128] = "";
    if (kafka)
        snprintf(kinfo, sizeof kinfo, " consumed=%lld filtered=%lld consumer_lag=%lld",
                 (long long)(in + filtered), (long long)filtered, (long long)lag);
    int64_t quar = R->t_quar + R->c_quar, late = R->t_late + R->c_late, dup = R->t_dup + R->c_dup;
    fprintf(stderr,
            "sluice %s: %s | session %s: in=%lld (%s/s) silver=%lld gold_rows=%lld "
            "quarantined=%lld late=%lld duplicates=%lld | total: in=%lld quarantined=%lld "
            "late=%lld duplicates=%lld | files_waiting=%lld%s watermark_lag=%s\n",
            R->p->name, final ? "done" : "status", up, (long long)(in - R->s0_in), rate_s,
            (long long)silver, (long long)gold, (long long)(quar - R->s0_quar),
            (long long)(late - R->s0_late), (long long)(dup - R->s0_dup), (long long)in,
            (long long)quar, (long long)late, (long long)dup, (long long)pending, kinfo, wm_lag);
    R->last_status_us = now;
    R->last_status_in = in;
}

void sl__engine_progress(run *R, bool final) {
    int64_t now = sl_monotonic_us();
    if (!final && now - R->prog_last_us < 250000) return;
    R->prog_last_us = now;
    int64_t files = 0, bytes = 0;
    for (int s = 0; s < R->p->nsrc; s++) {
        sl_source_stats st;
        sl_input_stats(&R->p->src[s], &st);
        files += st.files_waiting > 0 ? st.files_waiting : 0;
        bytes += st.bytes_waiting > 0 ? st.bytes_waiting : 0;
    }
    if (final) files = bytes = 0;
    /* files that arrive while we read grow the total */
    if (files > R->prog_files0) R->prog_files0 = files;
    if (bytes > R->prog_bytes0) R->prog_bytes0 = bytes;
    int64_t done_b = R->prog_bytes0 - bytes, done_f = R->prog_files0 - files;
    double up = (double)(now - R->started_us) / 1e6;
    double rate = up > 0 ? (double)done_b / up : 0;
    char d[32], t[32], r[32], eta[32] = "-";
    human_bytes((double)done_b, d, sizeof d);
    human_bytes((double)R->prog_bytes0, t, sizeof t);
    human_bytes(rate, r, sizeof r);
    if (final)
        human_duration(up, eta, sizeof eta);
    else if (rate > 0)
        human_duration((double)bytes / rate, eta, sizeof eta);
    double pct = R->prog_bytes0 ? 100.0 * (double)done_b / (double)R->prog_bytes0 : 100.0;
    /* \r and erase-line: the line is rewritten in place */
    fprintf(stderr, "\r\033[K%s: %lld/%lld files, %s of %s (%.0f%%), %s/s, %s %s%s", R->p->name,
            (long long)done_f, (long long)R->prog_files0, d, t, pct, r, final ? "took" : "ETA", eta,
            final ? "\n" : "");
    fflush(stderr);
}

void sl__engine_account_freshness(run *R) {
    for (size_t i = 0; i < R->npending; i++) {
        double lat = (double)(R->last_commit_wall_us - R->pending[i].ingest) / 1e6;
        size_t k = 0;
        while (k < NLAT && lat > lat_bounds[k])
            k++;
        R->lat_bucket[k] += R->pending[i].n;
        R->lat_count += R->pending[i].n;
        R->lat_sum_s += lat * (double)R->pending[i].n;
    }
    R->npending = 0;
}
