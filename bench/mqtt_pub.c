/*
 * mqtt_pub.c - the publisher of bench/mqtt.sh: every line of stdin is one
 * QoS 1 message on TOPIC; exits once the broker has acknowledged them all.
 * (Debian's mosquitto_pub 2.0.11 in -l mode exits at the end of its input
 * with messages still unsent, so it cannot preload a benchmark.)
 *
 *   mqtt_pub HOST PORT TOPIC < lines
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long acked;

static void on_publish(struct mosquitto *m, void *ud, int mid) {
    (void)m, (void)ud, (void)mid;
    acked++;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: mqtt_pub HOST PORT TOPIC < lines\n");
        return 2;
    }
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_max_inflight_messages_set(m, 1000);
    if (mosquitto_connect(m, argv[1], atoi(argv[2]), 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mqtt_pub: cannot connect to %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') n--;
        if (mosquitto_publish(m, NULL, argv[3], (int)n, line, 1, false) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mqtt_pub: publish failed\n");
            return 1;
        }
        sent++;
        /* keep the library's queue short: run the loop as we go */
        while (sent - acked > 2000)
            if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) return 1;
        if (sent % 64 == 0 && mosquitto_loop(m, 0, 1) != MOSQ_ERR_SUCCESS) return 1;
    }
    while (acked < sent)
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) return 1;
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    free(line);
    fprintf(stderr, "mqtt_pub: %ld messages acknowledged\n", sent);
    return 0;
}
