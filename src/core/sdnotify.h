/*
 * sdnotify.h - the service manager's readiness and watchdog protocol.
 *
 * systemd (Type=notify, WatchdogSec=) gives a service a datagram socket in
 * $NOTIFY_SOCKET ("/path" or "@abstract") and, with a watchdog, the interval
 * in $WATCHDOG_USEC (for the process $WATCHDOG_PID, when set). The protocol
 * is one datagram of "KEY=VALUE\n" lines: READY=1 once the pipeline has
 * restored its state and listens, WATCHDOG=1 at least every half interval
 * while the loop turns, RELOADING=1 / STOPPING=1 around reloads and stops,
 * STATUS=... a line for `systemctl status`. Written against the documented
 * protocol (sd_notify(3)), so there is no library to link; without
 * $NOTIFY_SOCKET every call is a no-op.
 */
#ifndef SL_CORE_SDNOTIFY_H
#define SL_CORE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=running") to the service manager.
 * Returns 1 sent, 0 no manager ($NOTIFY_SOCKET unset), -1 on error. */
int sl_sd_notify(const char *state);
/* The watchdog interval asked for (µs), 0 when none (or not for this pid). */
int64_t sl_sd_watchdog_us(void);
/* Sends WATCHDOG=1 when half the interval passed since the last one; cheap
 * enough for every turn of the loop (one clock read). now_us: monotonic. */
void sl_sd_watchdog_tick(int64_t now_us);

#endif
