/* log.c - JSON log lines; see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"

static sl_log_level g_level = SL_LOG_INFO;

void sl_log_init(void) {
    const char *v = getenv("SLUICE_LOG");
    if (!v) return;
    if (!strcasecmp(v, "debug"))
        g_level = SL_LOG_DEBUG;
    else if (!strcasecmp(v, "info"))
        g_level = SL_LOG_INFO;
    else if (!strcasecmp(v, "warn"))
        g_level = SL_LOG_WARN;
    else if (!strcasecmp(v, "error"))
        g_level = SL_LOG_ERROR;
    else if (!strcasecmp(v, "off"))
        g_level = SL_LOG_OFF;
}

void sl_log_set_level(sl_log_level lvl) { g_level = lvl; }
int sl_log_enabled(sl_log_level lvl) { return lvl >= g_level && g_level != SL_LOG_OFF; }

int sl_json_escape(char *out, int cap, const char *s, int len) {
    int o = 0;
    for (int i = 0; i < len && o < cap - 7; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c < 0x20) {
            o += snprintf(out + o, (size_t)(cap - o), "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (o < cap) out[o] = 0;
    return o;
}

void sl_log(sl_log_level lvl, const char *msg, const char *fields_fmt, ...) {
    if (!sl_log_enabled(lvl)) return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[40], line[4096], emsg[1024];
    sl_time_format_iso_ms(sl_now_us(), ts, sizeof ts);
    sl_json_escape(emsg, sizeof emsg, msg, (int)strlen(msg));
    int n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"", ts,
                     names[lvl], emsg);
    if (fields_fmt && *fields_fmt && n > 0 && n < (int)sizeof line) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fields_fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if (n > (int)sizeof line - 3) n = (int)sizeof line - 3;
    line[n++] = '}';
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
