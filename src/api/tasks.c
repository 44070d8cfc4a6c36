/*
 * Training tasks of POST /api/v1/train: a queue served by one background thread, so that at most
 * one training runs at a time (the machine's cores also serve requests), with each task's state,
 * epoch and losses kept for GET /api/v1/tasks/{id}; the newest 100 tasks are kept.
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TASKS_KEPT 100
/* Queued or running at once; more is refused (503) rather than a queue that never drains. */
#define TASKS_ACTIVE_MAX 16
#define TASK_ID_LEN 32

typedef enum task_state { TASK_QUEUED = 0, TASK_RUNNING, TASK_SUCCEEDED, TASK_FAILED } task_state;

static const char *const state_names[] = {"queued", "running", "succeeded", "failed"};

typedef struct task {
    char id[TASK_ID_LEN + 1];
    sao_api_train_request request;
    task_state state;
    int epoch;          /* epochs finished */
    int epochs;         /* epochs asked for */
    double *train_loss; /* [epochs], the first `epoch` set */
    double *val_loss;
    int best_epoch;
    int version;      /* written version (succeeded) */
    int serving;      /* whether it serves now */
    double mae_ratio; /* test MAE / persistence MAE */
    int beats_persistence;
    char error[512];
    int64_t created_us, started_us, finished_us;
} task;

struct sao_api_tasks {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t worker;
    int stopping;
    task *list[TASKS_KEPT + TASKS_ACTIVE_MAX]; /* oldest first */
    size_t count;
    size_t active; /* queued or running */
};

/* What the epoch callback of the running training needs. */
typedef struct run_ctx {
    sao_api_tasks *tasks;
    task *task;
    sao_train_options *opts;
} run_ctx;

static void task_free(task *t)
{
    if (!t) return;
    sao_free(t->train_loss);
    sao_free(t->val_loss);
    sao_free(t);
}

/* Task ids are unguessable (128 random bits): the status route needs no token. */
static void make_id(char out[TASK_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t bytes[TASK_ID_LEN / 2];
    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < sizeof(bytes); i++) {
            x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
            bytes[i] = (uint8_t)(x >> 56);
        }
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[TASK_ID_LEN] = '\0';
}

static json_t *time_json(int64_t us)
{
    if (!us) return json_null();
    int64_t day = us / SAO_US_PER_DAY;
    int64_t rem = us - day * SAO_US_PER_DAY;
    int64_t secs = rem / 1000000;
    char date[16], text[48];
    sao_date_format(day, date, sizeof(date));
    snprintf(text, sizeof(text), "%sT%02d:%02d:%02d.%03dZ", date, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60), (int)(rem / 1000 % 1000));
    return json_string(text);
}

/* The task as JSON; the caller holds the lock. */
static json_t *task_json(const task *t)
{
    const sao_api_train_request *r = &t->request;
    json_t *train = json_array(), *val = json_array();
    for (int i = 0; i < t->epoch; i++) {
        json_array_append_new(train, sao_api__number(t->train_loss[i]));
        json_array_append_new(val, sao_api__number(t->val_loss[i]));
    }
    json_t *params = json_pack(
        "{s:o,s:o,s:o,s:o,s:o}", "epochs", r->epochs ? json_integer(r->epochs) : json_null(),
        "arch",
        r->arch >= 0 ? json_string(sao_model_arch_name((sao_model_arch)r->arch)) : json_null(),
        "hidden", r->hidden ? json_integer(r->hidden) : json_null(), "layers",
        r->layers ? json_integer(r->layers) : json_null(), "parent",
        r->parent[0] ? json_string(r->parent) : json_null());
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:o,s:i,s:i,s:o,s:o,s:{s:o,s:o},s:o,s:o,s:o,s:o,s:o,s:o}",
                  "task_id", t->id, "status", state_names[t->state], "ticker", r->ticker, "params",
                  params, "epoch", t->epoch, "epochs", t->epochs, "train_loss",
                  t->epoch ? sao_api__number(t->train_loss[t->epoch - 1]) : json_null(), "val_loss",
                  t->epoch ? sao_api__number(t->val_loss[t->epoch - 1]) : json_null(), "losses",
                  "train", train, "val", val, "version",
                  t->state == TASK_SUCCEEDED ? json_integer(t->version) : json_null(), "serving",
                  t->state == TASK_SUCCEEDED ? json_boolean(t->serving) : json_null(), "error",
                  t->state == TASK_FAILED ? json_string(t->error) : json_null(), "created",
                  time_json(t->created_us), "started", time_json(t->started_us), "finished",
                  time_json(t->finished_us));
    if (t->state == TASK_SUCCEEDED)
        json_object_set_new(j, "metrics",
                            json_pack("{s:o,s:b}", "mae_ratio", sao_api__number(t->mae_ratio),
                                      "beats_persistence", t->beats_persistence));
    else
        json_object_set_new(j, "metrics", json_null());
    return j;
}

/* Called after every epoch, on the training thread. */
static int on_epoch(const sao_model_epoch *epoch, void *userdata)
{
    run_ctx *rc = userdata;
    task *t = rc->task;
    pthread_mutex_lock(&rc->tasks->lock);
    if (epoch->epoch >= 1 && epoch->epoch <= t->epochs) {
        t->train_loss[epoch->epoch - 1] = epoch->train_loss;
        t->val_loss[epoch->epoch - 1] = epoch->val_loss;
        t->epoch = epoch->epoch;
    }
    int stop = rc->tasks->stopping;
    pthread_mutex_unlock(&rc->tasks->lock);
    /* The pipeline still saves the weights of a stopped run: never let them serve. The options
     * are ours, and read after training on this same thread. */
    if (stop) rc->opts->promote = SAO_PROMOTE_NEVER;
    return stop;
}

static void run_task(sao_api_tasks *tasks, task *t)
{
    sao_train_options opts;
    sao_train_options_init(&opts);
    const sao_api_train_request *r = &t->request;
    if (r->epochs) opts.train.epochs = r->epochs;
    if (r->arch >= 0) opts.model.arch = (sao_model_arch)r->arch;
    if (r->hidden) opts.model.hidden_size = r->hidden;
    if (r->layers) opts.model.num_layers = r->layers;
    if (r->parent[0]) opts.parent = r->parent;
    opts.train.progress = 0;
    run_ctx ctx = {tasks, t, &opts};
    opts.train.on_epoch = on_epoch;
    opts.train.userdata = &ctx;

    sao_log(SAO_LOG_INFO, "tasks", "training %s (task %s, %d epochs)", r->ticker, t->id,
            opts.train.epochs);
    sao_train_result result;
    memset(&result, 0, sizeof(result));
    int rc = sao_train_ticker(&result, r->ticker, &opts);

    pthread_mutex_lock(&tasks->lock);
    int stopped = tasks->stopping;
    t->finished_us = sao_now_us();
    if (rc) {
        t->state = TASK_FAILED;
        snprintf(t->error, sizeof(t->error), "%s: %s", sao_strerror(rc), sao_error_last());
    } else if (stopped && result.history.stopped_early) {
        t->state = TASK_FAILED;
        snprintf(t->error, sizeof(t->error),
                 "cancelled: the server is shutting down (version %d was saved, not promoted)",
                 result.version);
    } else {
        t->state = TASK_SUCCEEDED;
        t->version = result.version;
        t->serving = result.serving;
        t->best_epoch = result.history.best_epoch;
        if (result.card.eval) {
            t->mae_ratio = result.card.eval->mae_ratio;
            t->beats_persistence = result.card.eval->beats_persistence;
        }
    }
    int failed = t->state == TASK_FAILED;
    pthread_mutex_unlock(&tasks->lock);
    /* The task is only read under the lock, but its error is final once failed. */
    if (failed)
        sao_log(SAO_LOG_WARN, "tasks", "training %s (task %s) failed: %s", r->ticker, t->id,
                t->error);
    else
        sao_log(SAO_LOG_INFO, "tasks", "training %s (task %s): version %d%s", r->ticker, t->id,
                result.version, result.serving ? ", serving" : "");
    if (!rc) sao_train_result_dispose(&result);
}

static void *worker_main(void *arg)
{
    sao_api_tasks *tasks = arg;
    pthread_mutex_lock(&tasks->lock);
    for (;;) {
        task *next = NULL;
        for (size_t i = 0; i < tasks->count && !next; i++)
            if (tasks->list[i]->state == TASK_QUEUED) next = tasks->list[i];
        if (tasks->stopping) break;
        if (!next) {
            pthread_cond_wait(&tasks->wake, &tasks->lock);
            continue;
        }
        next->state = TASK_RUNNING;
        next->started_us = sao_now_us();
        pthread_mutex_unlock(&tasks->lock);
        run_task(tasks, next);
        pthread_mutex_lock(&tasks->lock);
        tasks->active--;
    }
    /* Stopping: what is still queued never runs. */
    for (size_t i = 0; i < tasks->count; i++) {
        task *t = tasks->list[i];
        if (t->state != TASK_QUEUED) continue;
        t->state = TASK_FAILED;
        t->finished_us = sao_now_us();
        sao_strlcpy(t->error, "cancelled: the server is shutting down", sizeof(t->error));
        tasks->active--;
    }
    pthread_mutex_unlock(&tasks->lock);
    return NULL;
}

int sao_api__tasks_new(sao_api_tasks **out)
{
    sao_api_tasks *tasks = sao_calloc(1, sizeof(*tasks));
    pthread_mutex_init(&tasks->lock, NULL);
    pthread_cond_init(&tasks->wake, NULL);
    int err = pthread_create(&tasks->worker, NULL, worker_main, tasks);
    if (err) {
        pthread_cond_destroy(&tasks->wake);
        pthread_mutex_destroy(&tasks->lock);
        sao_free(tasks);
        return sao_error_set(SAO_ENOMEM, "cannot start the training thread: %s", strerror(err));
    }
    *out = tasks;
    return 0;
}

void sao_api__tasks_free(sao_api_tasks *tasks)
{
    if (!tasks) return;
    pthread_mutex_lock(&tasks->lock);
    tasks->stopping = 1;
    pthread_cond_broadcast(&tasks->wake);
    pthread_mutex_unlock(&tasks->lock);
    pthread_join(tasks->worker, NULL);
    for (size_t i = 0; i < tasks->count; i++) task_free(tasks->list[i]);
    pthread_cond_destroy(&tasks->wake);
    pthread_mutex_destroy(&tasks->lock);
    sao_free(tasks);
}

/* Drops the oldest finished tasks beyond TASKS_KEPT; the caller holds the lock. */
static void evict(sao_api_tasks *tasks)
{
    size_t i = 0;
    while (tasks->count > TASKS_KEPT && i < tasks->count) {
        task *t = tasks->list[i];
        if (t->state == TASK_QUEUED || t->state == TASK_RUNNING) {
            i++;
            continue;
        }
        task_free(t);
        memmove(&tasks->list[i], &tasks->list[i + 1],
                (tasks->count - i - 1) * sizeof(tasks->list[0]));
        tasks->count--;
    }
}

int sao_api__tasks_submit(json_t **out, int *created, sao_api_tasks *tasks,
                          const sao_api_train_request *request)
{
    int rc = 0;
    pthread_mutex_lock(&tasks->lock);
    if (tasks->stopping) {
        rc = sao_error_set(SAO_ESTATE, "the server is shutting down");
        goto done;
    }
    for (size_t i = 0; i < tasks->count; i++) {
        task *t = tasks->list[i];
        if ((t->state == TASK_QUEUED || t->state == TASK_RUNNING) &&
            strcmp(t->request.ticker, request->ticker) == 0) {
            *out = task_json(t);
            *created = 0;
            goto done;
        }
    }
    if (tasks->active >= TASKS_ACTIVE_MAX) {
        rc = sao_error_set(SAO_ETOOBIG, "%d trainings are queued or running already; try later",
                           TASKS_ACTIVE_MAX);
        goto done;
    }
    task *t = sao_calloc(1, sizeof(*t));
    make_id(t->id);
    t->request = *request;
    sao_train_options defaults;
    sao_train_options_init(&defaults);
    t->epochs = request->epochs ? request->epochs : defaults.train.epochs;
    t->train_loss = sao_calloc((size_t)t->epochs, sizeof(double));
    t->val_loss = sao_calloc((size_t)t->epochs, sizeof(double));
    t->created_us = sao_now_us();
    t->state = TASK_QUEUED;
    tasks->list[tasks->count++] = t;
    tasks->active++;
    evict(tasks);
    pthread_cond_signal(&tasks->wake);
    *out = task_json(t);
    *created = 1;
done:
    pthread_mutex_unlock(&tasks->lock);
    return rc;
}

json_t *sao_api__tasks_get(sao_api_tasks *tasks, const char *id)
{
    json_t *j = NULL;
    pthread_mutex_lock(&tasks->lock);
    for (size_t i = 0; i < tasks->count && !j; i++)
        if (strcmp(tasks->list[i]->id, id) == 0) j = task_json(tasks->list[i]);
    pthread_mutex_unlock(&tasks->lock);
    return j;
}
