/*
 * A redis-server of a test's own, on a loopback port the test picks (sao_test_free_port), with
 * its folder under SAO_TEST_TMPDIR: started and waited for, stopped with a signal (SIGTERM
 * saves nothing: persistence is off), killed at exit whatever happens to the test. Optional
 * password and Unix socket. SAO_REDIS_SERVER names another binary. Header-only, for the C tests
 * that include it (they link hiredis).
 */
#ifndef SAO_TEST_REDIS_SERVER_H
#define SAO_TEST_REDIS_SERVER_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

typedef struct sao_test_redis {
    pid_t pid;
    int port;
    char dir[512];        /* set by sao_test_redis_start */
    const char *password; /* --requirepass when set */
    int unix_socket;      /* also listen on <dir>/redis.sock */
} sao_test_redis;

static sao_test_redis *sao_test_redis_running_[8];

static void sao_test_redis_kill_all_(void)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(sao_test_redis_running_); i++) {
        sao_test_redis *s = sao_test_redis_running_[i];
        if (s && s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
    }
}

/* A connection over TCP (authenticated when the server has a password), or NULL. */
static inline redisContext *sao_test_redis_connect(const sao_test_redis *s)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    if (s->password) {
        redisReply *r = redisCommand(c, "AUTH %s", s->password);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static inline int sao_test_redis_answers(const sao_test_redis *s)
{
    redisContext *c = sao_test_redis_connect(s);
    if (!c) return 0;
    redisReply *r = redisCommand(c, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Starts `s` on s->port (its folder <SAO_TEST_TMPDIR>/<name>-<port>, the same on a restart) and
 * waits until it answers PING; exits the test when it cannot. */
static inline void sao_test_redis_start(sao_test_redis *s, const char *name)
{
    static int registered;
    if (!registered) {
        atexit(sao_test_redis_kill_all_);
        registered = 1;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(s->dir, sizeof(s->dir), "%s/%s-%d", SAO_TEST_TMPDIR, name, s->port);
    ASSERT_OK(sao_mkdir_p(s->dir));
    char log[600], socket_path[600];
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    snprintf(socket_path, sizeof(socket_path), "%s/redis.sock", s->dir);

    fflush(stdout); /* or the child's copy of unwritten output is written twice */
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        FILE *out = freopen(log, "a", stdout);
        if (out) dup2(fileno(stdout), STDERR_FILENO);
        const char *argv[20];
        int argc = 0;
        const char *bin = getenv("SAO_REDIS_SERVER");
        argv[argc++] = bin && *bin ? bin : "redis-server";
        const char *common[] = {"--port", port,           "--bind", "127.0.0.1", "--save",
                                "",       "--appendonly", "no",     "--dir",     s->dir};
        for (size_t i = 0; i < SAO_ARRAY_LEN(common); i++) argv[argc++] = common[i];
        if (s->password) {
            argv[argc++] = "--requirepass";
            argv[argc++] = s->password;
        }
        if (s->unix_socket) {
            argv[argc++] = "--unixsocket";
            argv[argc++] = socket_path;
            argv[argc++] = "--unixsocketperm";
            argv[argc++] = "700";
        }
        argv[argc] = NULL;
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (size_t i = 0; i < SAO_ARRAY_LEN(sao_test_redis_running_); i++) {
        if (!sao_test_redis_running_[i] || sao_test_redis_running_[i] == s) {
            sao_test_redis_running_[i] = s;
            break;
        }
    }
    for (int i = 0; i < 1000; i++) {
        if (sao_test_redis_answers(s)) return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fprintf(stderr, "redis-server exited (status %d); is it installed? log: %s\n", status,
                    log);
            exit(1);
        }
        usleep(10000);
    }
    fprintf(stderr, "redis-server on port %d did not answer PING in 10 s\n", s->port);
    exit(1);
}

static inline void sao_test_redis_stop(sao_test_redis *s, int sig)
{
    if (s->pid <= 0) return;
    kill(s->pid, sig);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

#endif
