/*
 * assets.h - the web files (pages, scripts, uPlot) embedded in the binary.
 *
 * scripts/web-build.sh generates the table (web_assets.c) at build time from
 * the .html, .js and .css files in web/ and the uPlot files copied from npm, so the
 * dashboard works with no internet and no files beside the binary.
 */
#ifndef SL_SERVER_ASSETS_H
#define SL_SERVER_ASSETS_H

#include <stddef.h>

typedef struct sl_web_asset {
    const char *path;         /* file name, e.g. "index.html", "uplot.iife.min.js" */
    const char *content_type; /* e.g. "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} sl_web_asset;

extern const sl_web_asset sl_web_assets[];
extern const size_t sl_web_assets_count;

/* Returns the asset named path, or NULL. */
const sl_web_asset *sl_web_asset_find(const char *path);

#endif
