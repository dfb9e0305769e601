/*
 * datadir.c - where a pipeline's data lives (data/<pipeline> by default).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/internal.h"

int sl_pipeline_data_dir(const sl_pipeline *p, const char *data_dir, char *out, size_t cap,
                         bool create, sl_error *err) {
    if (data_dir && *data_dir)
        snprintf(out, cap, "%s", data_dir);
    else
        snprintf(out, cap, "data/%s", p->name);
    if (!create) return 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", out);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        mkdir(tmp, 0755);
        *q = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return sl_error_set(err, SL_EIO, "cannot create data directory %s: %s", out,
                            strerror(errno));
    return 0;
}
