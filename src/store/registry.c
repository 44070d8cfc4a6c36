/*
 * The feature repository (feature_store.yaml in Feast's schema, features.yaml with the entity
 * and feature views), its validation, the registry of applied definitions and materialized
 * intervals ($SAO_HOME/registry.json), and `apply`, which also writes features.py for Feast.
 */
#include "store.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "features/features.h"

#define YAML_MAX_BYTES ((size_t)4 * 1024 * 1024)
#define YAML_MAX_DEPTH 16

/* ---- a small YAML document tree (libyaml events -> nodes with line numbers) ---- */

typedef enum ynode_type { YN_SCALAR, YN_SEQ, YN_MAP } ynode_type;

typedef struct ynode {
    ynode_type type;
    int line;
    char *scalar;
    struct ynode **items; /* SEQ: items; MAP: key, value, key, value, ... */
    size_t count;
    size_t cap;
} ynode;

static void ynode_free(ynode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->count; i++) ynode_free(n->items[i]);
    sao_free(n->items);
    sao_free(n->scalar);
    sao_free(n);
}

static void ynode_push(ynode *parent, ynode *child)
{
    parent->items = sao_grow(parent->items, &parent->cap, parent->count + 1, sizeof(ynode *));
    parent->items[parent->count++] = child;
}

static int yaml_parse_tree(ynode **out, const char *text, size_t len, const char *name)
{
    yaml_parser_t parser;
    yaml_event_t event;
    if (!yaml_parser_initialize(&parser)) return sao_error_set(SAO_ENOMEM, "yaml parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    ynode *stack[YAML_MAX_DEPTH];
    size_t depth = 0;
    ynode *root = NULL;
    int rc = 0;
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = sao_error_set(SAO_EPARSE, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
                               parser.problem_mark.column + 1,
                               parser.problem ? parser.problem : "invalid YAML");
            goto done;
        }
        yaml_event_type_t type = event.type;
        int line = (int)event.start_mark.line + 1;
        ynode *node = NULL;
        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT) {
            node = sao_calloc(1, sizeof(*node));
            node->line = line;
            if (type == YAML_SCALAR_EVENT) {
                node->type = YN_SCALAR;
                node->scalar =
                    sao_strndup((const char *)event.data.scalar.value, event.data.scalar.length);
            } else {
                node->type = type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP;
            }
            if (depth > 0) ynode_push(stack[depth - 1], node);
            else if (!root) root = node;
            else {
                ynode_free(node);
                yaml_event_delete(&event);
                rc = sao_error_set(SAO_EPARSE, "%s:%d: more than one document", name, line);
                goto done;
            }
            if (node->type != YN_SCALAR) {
                if (depth >= YAML_MAX_DEPTH) {
                    yaml_event_delete(&event);
                    rc = sao_error_set(SAO_EPARSE, "%s:%d: nested too deeply", name, line);
                    goto done;
                }
                stack[depth++] = node;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            if (depth > 0) depth--;
        } else if (type == YAML_ALIAS_EVENT) {
            yaml_event_delete(&event);
            rc = sao_error_set(SAO_EPARSE, "%s:%d: YAML aliases are not supported here", name,
                               line);
            goto done;
        }
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    if (!root) rc = sao_error_set(SAO_EPARSE, "%s: empty document", name);
done:
    yaml_parser_delete(&parser);
    if (rc) {
        ynode_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

static const ynode *ymap_get(const ynode *map, const char *key)
{
    if (!map || map->type != YN_MAP) return NULL;
    for (size_t i = 0; i + 1 < map->count; i += 2)
        if (map->items[i]->type == YN_SCALAR && strcmp(map->items[i]->scalar, key) == 0)
            return map->items[i + 1];
    return NULL;
}

/* Rejects keys outside `allowed` so that a typo ("tll:") is an error, not silently ignored. */
static int ymap_check_keys(const ynode *map, const char *const *allowed, const char *file,
                           const char *what)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const ynode *k = map->items[i];
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (k->type == YN_SCALAR && strcmp(k->scalar, *a) == 0) ok = 1;
        if (!ok)
            return sao_error_set(SAO_EINVAL, "%s:%d: unknown key '%s' in %s", file, k->line,
                                 k->type == YN_SCALAR ? k->scalar : "?", what);
    }
    return 0;
}

static int yscalar(const char **out, const ynode *map, const char *key, int required,
                   const char *file)
{
    const ynode *v = ymap_get(map, key);
    if (!v) {
        if (required)
            return sao_error_set(SAO_EINVAL, "%s:%d: missing '%s'", file, map->line, key);
        *out = NULL;
        return 0;
    }
    if (v->type != YN_SCALAR)
        return sao_error_set(SAO_EINVAL, "%s:%d: '%s' must be a single value", file, v->line,
                             key);
    *out = v->scalar;
    return 0;
}

/* ---- repository ---- */

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64) return 0;
    if (!(islower((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) return 0;
    return 1;
}

/* "10d", "36h", "90m", "3600s" or plain seconds. */
static int parse_ttl(const char *s, int64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s)) return SAO_EINVAL;
    long long v = strtoll(s, &end, 10);
    int64_t mult = 1;
    if (*end == 'd') mult = 86400, end++;
    else if (*end == 'h') mult = 3600, end++;
    else if (*end == 'm') mult = 60, end++;
    else if (*end == 's') end++;
    if (*end || v < 0 || v > (long long)(INT64_MAX / 86400 / 1000000)) return SAO_EINVAL;
    *out = (int64_t)v * mult;
    return 0;
}

static int parse_dtype(const char *s, sao_fs_dtype *out)
{
    static const struct {
        const char *name;
        sao_fs_dtype type;
    } types[] = {{"Float64", SAO_FS_FLOAT64},
                 {"Int64", SAO_FS_INT64},
                 {"String", SAO_FS_STRING},
                 {"Array(Float64)", SAO_FS_FLOAT64_LIST}};
    for (size_t i = 0; i < SAO_ARRAY_LEN(types); i++)
        if (strcmp(s, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    return SAO_EINVAL;
}

static const char *dtype_name(sao_fs_dtype t)
{
    switch (t) {
    case SAO_FS_FLOAT64:
        return "Float64";
    case SAO_FS_INT64:
        return "Int64";
    case SAO_FS_STRING:
        return "String";
    case SAO_FS_FLOAT64_LIST:
        return "Array(Float64)";
    }
    return "?";
}

static const char *kind_name(sao_fs_view_kind k)
{
    return k == SAO_FS_BARS ? "bars" : k == SAO_FS_INDICATORS ? "indicators" : "window";
}

static const char *bar_fields[] = {"open",     "high",     "low",         "close", "adj_close",
                                   "volume",   "dividend", "split_ratio", NULL};

static char *dup_or_empty(const char *s)
{
    return sao_strdup(s ? s : "");
}

static void view_dispose(sao_fs_view *v)
{
    for (size_t i = 0; i < v->field_count; i++) {
        sao_fs_field *f = &v->fields[i];
        sao_free(f->name);
        sao_free(f->params);
        sao_free(f->description);
        sao_free(f->window_view);
        sao_free(f->window_feature);
    }
    sao_free(v->fields);
    sao_free(v->name);
    sao_free(v->description);
    sao_free(v->source);
}

void sao_fs_repo_free(sao_fs_repo *repo)
{
    if (!repo) return;
    for (size_t i = 0; i < repo->view_count; i++) view_dispose(&repo->views[i]);
    sao_free(repo->views);
    sao_free(repo->dir);
    sao_free(repo->project);
    sao_free(repo->registry);
    sao_free(repo->connection_string);
    sao_free(repo->entity);
    sao_free(repo->join_key);
    sao_free(repo);
}

const sao_fs_view *sao_fs_repo_view(const sao_fs_repo *repo, const char *name)
{
    for (size_t i = 0; i < repo->view_count; i++)
        if (strcmp(repo->views[i].name, name) == 0) return &repo->views[i];
    return NULL;
}

int sao_fs_view_field(const sao_fs_view *view, const char *name)
{
    for (size_t i = 0; i < view->field_count; i++)
        if (strcmp(view->fields[i].name, name) == 0) return (int)i;
    return -1;
}

static int load_store_yaml(sao_fs_repo *repo, const char *path)
{
    char *text = NULL;
    size_t len;
    ynode *root = NULL;
    int rc = sao_file_read(&text, &len, path, YAML_MAX_BYTES);
    if (rc) return rc;
    rc = yaml_parse_tree(&root, text, len, path);
    if (rc) goto done;
    if (root->type != YN_MAP) {
        rc = sao_error_set(SAO_EINVAL, "%s: expected a mapping", path);
        goto done;
    }
    static const char *keys[] = {"project",       "provider", "registry",
                                 "offline_store", "online_store",
                                 "entity_key_serialization_version", NULL};
    rc = ymap_check_keys(root, keys, path, "feature_store.yaml");
    if (rc) goto done;
    const char *project = NULL, *provider = NULL, *registry = NULL, *version = NULL;
    if ((rc = yscalar(&project, root, "project", 1, path)) ||
        (rc = yscalar(&provider, root, "provider", 0, path)) ||
        (rc = yscalar(&registry, root, "registry", 0, path)) ||
        (rc = yscalar(&version, root, "entity_key_serialization_version", 0, path)))
        goto done;
    if (!valid_name(project)) {
        rc = sao_error_set(SAO_EINVAL, "%s: project '%s' must be lower-case letters, digits, _",
                           path, project);
        goto done;
    }
    if (provider && strcmp(provider, "local") != 0) {
        rc = sao_error_set(SAO_EINVAL, "%s: provider '%s' is not supported (local)", path,
                           provider);
        goto done;
    }
    repo->project = sao_strdup(project);
    repo->registry = dup_or_empty(registry);
    repo->entity_key_serialization_version = 3;
    if (version) {
        long v;
        if (sao_parse_long(version, &v) != 0 || (v != 2 && v != 3)) {
            rc = sao_error_set(SAO_EINVAL, "%s: entity_key_serialization_version must be 2 or 3",
                               path);
            goto done;
        }
        repo->entity_key_serialization_version = (int)v;
    }
    const ynode *offline = ymap_get(root, "offline_store");
    const char *otype = NULL;
    if (offline && (offline->type != YN_MAP || yscalar(&otype, offline, "type", 0, path) != 0 ||
                    (otype && strcmp(otype, "file") != 0))) {
        rc = sao_error_set(SAO_EINVAL, "%s:%d: offline_store.type must be 'file'", path,
                           offline->line);
        goto done;
    }
    const ynode *online = ymap_get(root, "online_store");
    const char *ntype = NULL, *conn = NULL, *ttl = NULL;
    if (!online || online->type != YN_MAP) {
        rc = sao_error_set(SAO_EINVAL, "%s: online_store (type: redis) is required", path);
        goto done;
    }
    if ((rc = yscalar(&ntype, online, "type", 1, path)) ||
        (rc = yscalar(&conn, online, "connection_string", 0, path)) ||
        (rc = yscalar(&ttl, online, "key_ttl_seconds", 0, path)))
        goto done;
    if (strcmp(ntype, "redis") != 0) {
        rc = sao_error_set(SAO_EINVAL, "%s:%d: online_store.type '%s' is not supported (redis)",
                           path, online->line, ntype);
        goto done;
    }
    const char *env_conn = sao_config_get("SAO_REDIS_CONNECTION");
    repo->connection_string = sao_strdup(*env_conn ? env_conn : conn ? conn : "127.0.0.1:6379");
    repo->key_ttl_seconds = 0;
    if (ttl && (sao_parse_long(ttl, &repo->key_ttl_seconds) != 0 || repo->key_ttl_seconds < 0)) {
        rc = sao_error_set(SAO_EINVAL, "%s: key_ttl_seconds must be a non-negative integer", path);
        goto done;
    }
done:
    ynode_free(root);
    sao_free(text);
    return rc;
}

static int parse_field(sao_fs_field *f, const ynode *node, const sao_fs_view *view,
                       const char *path)
{
    if (node->type != YN_MAP)
        return sao_error_set(SAO_EINVAL, "%s:%d: a field is a mapping {name, dtype}", path,
                             node->line);
    static const char *keys[] = {"name", "dtype", "params", "description", "from", NULL};
    int rc = ymap_check_keys(node, keys, path, "a field");
    if (rc) return rc;
    const char *name = NULL, *dtype = NULL, *params = NULL, *desc = NULL, *from = NULL;
    if ((rc = yscalar(&name, node, "name", 1, path)) ||
        (rc = yscalar(&dtype, node, "dtype", 1, path)) ||
        (rc = yscalar(&params, node, "params", 0, path)) ||
        (rc = yscalar(&desc, node, "description", 0, path)) ||
        (rc = yscalar(&from, node, "from", 0, path)))
        return rc;
    if (!valid_name(name))
        return sao_error_set(SAO_EINVAL, "%s:%d: field name '%s' must be lower-case letters, "
                             "digits and _", path, node->line, name);
    if (parse_dtype(dtype, &f->dtype) != 0)
        return sao_error_set(SAO_EINVAL, "%s:%d: %s: unknown dtype '%s' (Float64, Int64, String, "
                             "Array(Float64))", path, node->line, name, dtype);
    f->name = sao_strdup(name);
    f->params = dup_or_empty(params);
    f->description = dup_or_empty(desc);
    switch (view->kind) {
    case SAO_FS_BARS: {
        int known = 0;
        for (const char **b = bar_fields; *b; b++) known |= strcmp(*b, name) == 0;
        if (!known)
            return sao_error_set(SAO_EINVAL, "%s:%d: '%s' is not a bar column (open, high, low, "
                                 "close, adj_close, volume, dividend, split_ratio)",
                                 path, node->line, name);
        if (f->dtype != SAO_FS_FLOAT64)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: bar columns are Float64", path,
                                 node->line, name);
        break;
    }
    case SAO_FS_INDICATORS: {
        int idx = sao_features_find(name);
        if (idx < 0)
            return sao_error_set(SAO_EINVAL, "%s:%d: unknown indicator '%s'", path, node->line,
                                 name);
        size_t ndefs;
        const sao_feature_def *def = &sao_features_defs(&ndefs)[idx];
        if (strcmp(def->params, f->params) != 0)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s is computed with params \"%s\", not \"%s\"",
                                 path, node->line, name, def->params, f->params);
        if (f->dtype != SAO_FS_FLOAT64)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: indicators are Float64", path,
                                 node->line, name);
        if (!*f->description) {
            sao_free(f->description);
            f->description = sao_strdup(def->description);
        }
        break;
    }
    case SAO_FS_WINDOW: {
        const char *colon = from ? strchr(from, ':') : NULL;
        if (!colon)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: a window field needs from: "
                                 "\"view:feature\"", path, node->line, name);
        if (f->dtype != SAO_FS_FLOAT64_LIST)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: window fields are Array(Float64)", path,
                                 node->line, name);
        f->window_view = sao_strndup(from, (size_t)(colon - from));
        f->window_feature = sao_strdup(colon + 1);
        break;
    }
    }
    return 0;
}

static int parse_view(sao_fs_view *v, const ynode *node, const char *path)
{
    if (node->type != YN_MAP)
        return sao_error_set(SAO_EINVAL, "%s:%d: a feature view is a mapping", path, node->line);
    v->line = node->line;
    static const char *keys[] = {"name", "kind", "description", "ttl", "source",
                                 "context_length", "fields", NULL};
    int rc = ymap_check_keys(node, keys, path, "a feature view");
    if (rc) return rc;
    const char *name = NULL, *kind = NULL, *desc = NULL, *ttl = NULL, *source = NULL, *ctx = NULL;
    if ((rc = yscalar(&name, node, "name", 1, path)) ||
        (rc = yscalar(&kind, node, "kind", 1, path)) ||
        (rc = yscalar(&desc, node, "description", 0, path)) ||
        (rc = yscalar(&ttl, node, "ttl", 1, path)) ||
        (rc = yscalar(&source, node, "source", 0, path)) ||
        (rc = yscalar(&ctx, node, "context_length", 0, path)))
        return rc;
    if (!valid_name(name))
        return sao_error_set(SAO_EINVAL, "%s:%d: view name '%s' must be lower-case letters, "
                             "digits and _", path, node->line, name);
    v->name = sao_strdup(name);
    v->description = dup_or_empty(desc);
    if (strcmp(kind, "bars") == 0) v->kind = SAO_FS_BARS;
    else if (strcmp(kind, "indicators") == 0) v->kind = SAO_FS_INDICATORS;
    else if (strcmp(kind, "window") == 0) v->kind = SAO_FS_WINDOW;
    else
        return sao_error_set(SAO_EINVAL, "%s:%d: %s: unknown kind '%s' (bars, indicators, window)",
                             path, node->line, name, kind);
    if (parse_ttl(ttl, &v->ttl_seconds) != 0 || v->ttl_seconds == 0)
        return sao_error_set(SAO_EINVAL, "%s:%d: %s: bad ttl '%s' (a positive duration such as "
                             "10d, 36h, 3600s)", path, ymap_get(node, "ttl")->line, name, ttl);
    if (v->kind == SAO_FS_WINDOW) {
        long n;
        if (!ctx || sao_parse_long(ctx, &n) != 0 || n < 1 || n > 10000)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: a window view needs context_length "
                                 "1..10000", path, node->line, name);
        v->context_length = (int)n;
        if (source)
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: a window view is derived from other "
                                 "views and has no source", path, node->line, name);
    } else {
        if (!source || strncmp(source, "offline/", 8) != 0 || strstr(source, "..") ||
            !valid_name(source + 8))
            return sao_error_set(SAO_EINVAL, "%s:%d: %s: source must be offline/<folder>", path,
                                 node->line, name);
        v->source = sao_strdup(source);
    }
    const ynode *fields = ymap_get(node, "fields");
    if (!fields || fields->type != YN_SEQ || fields->count == 0)
        return sao_error_set(SAO_EINVAL, "%s:%d: %s: fields must be a non-empty list", path,
                             node->line, name);
    v->fields = sao_calloc(fields->count, sizeof(*v->fields));
    for (size_t i = 0; i < fields->count; i++) {
        rc = parse_field(&v->fields[i], fields->items[i], v, path);
        v->field_count = i + 1;
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(v->fields[j].name, v->fields[i].name) == 0)
                return sao_error_set(SAO_EINVAL, "%s:%d: %s: duplicate field '%s'", path,
                                     fields->items[i]->line, name, v->fields[i].name);
    }
    return 0;
}

static int load_features_yaml(sao_fs_repo *repo, const char *path)
{
    char *text = NULL;
    size_t len;
    ynode *root = NULL;
    int rc = sao_file_read(&text, &len, path, YAML_MAX_BYTES);
    if (rc) return rc;
    rc = yaml_parse_tree(&root, text, len, path);
    if (rc) goto done;
    static const char *keys[] = {"entity", "feature_views", NULL};
    if (root->type != YN_MAP) {
        rc = sao_error_set(SAO_EINVAL, "%s: expected a mapping", path);
        goto done;
    }
    if ((rc = ymap_check_keys(root, keys, path, "features.yaml"))) goto done;
    const ynode *entity = ymap_get(root, "entity");
    const char *ename = NULL, *jkey = NULL, *vtype = NULL;
    if (!entity || entity->type != YN_MAP) {
        rc = sao_error_set(SAO_EINVAL, "%s: entity is required", path);
        goto done;
    }
    static const char *ekeys[] = {"name", "join_key", "value_type", "description", NULL};
    if ((rc = ymap_check_keys(entity, ekeys, path, "the entity")) ||
        (rc = yscalar(&ename, entity, "name", 1, path)) ||
        (rc = yscalar(&jkey, entity, "join_key", 1, path)) ||
        (rc = yscalar(&vtype, entity, "value_type", 0, path)))
        goto done;
    if (!valid_name(ename) || !valid_name(jkey)) {
        rc = sao_error_set(SAO_EINVAL, "%s:%d: entity and join key names must be lower-case",
                           path, entity->line);
        goto done;
    }
    if (vtype && strcmp(vtype, "STRING") != 0) {
        rc = sao_error_set(SAO_EINVAL, "%s:%d: the entity's value_type must be STRING", path,
                           entity->line);
        goto done;
    }
    repo->entity = sao_strdup(ename);
    repo->join_key = sao_strdup(jkey);
    const ynode *views = ymap_get(root, "feature_views");
    if (!views || views->type != YN_SEQ || views->count == 0) {
        rc = sao_error_set(SAO_EINVAL, "%s: feature_views must be a non-empty list", path);
        goto done;
    }
    repo->views = sao_calloc(views->count, sizeof(*repo->views));
    for (size_t i = 0; i < views->count; i++) {
        rc = parse_view(&repo->views[i], views->items[i], path);
        repo->view_count = i + 1;
        if (rc) goto done;
        for (size_t j = 0; j < i; j++)
            if (strcmp(repo->views[j].name, repo->views[i].name) == 0) {
                rc = sao_error_set(SAO_EINVAL, "%s:%d: duplicate feature view '%s'", path,
                                   views->items[i]->line, repo->views[i].name);
                goto done;
            }
    }
    /* Window fields must point at existing Float64 fields of bar or indicator views. */
    for (size_t i = 0; i < repo->view_count; i++) {
        const sao_fs_view *v = &repo->views[i];
        for (size_t k = 0; v->kind == SAO_FS_WINDOW && k < v->field_count; k++) {
            const sao_fs_field *f = &v->fields[k];
            const sao_fs_view *src = sao_fs_repo_view(repo, f->window_view);
            int idx = src ? sao_fs_view_field(src, f->window_feature) : -1;
            if (!src || src->kind == SAO_FS_WINDOW || idx < 0) {
                rc = sao_error_set(SAO_EINVAL, "%s:%d: %s.%s: from \"%s:%s\" is not a field of "
                                   "a bars or indicators view", path, v->line, v->name, f->name,
                                   f->window_view, f->window_feature);
                goto done;
            }
        }
    }
done:
    ynode_free(root);
    sao_free(text);
    return rc;
}

int sao_fs_repo_load(sao_fs_repo **out, const char *dir)
{
    if (!dir) dir = sao_config_get("SAO_FEATURE_REPO");
    sao_fs_repo *repo = sao_calloc(1, sizeof(*repo));
    repo->dir = sao_strdup(dir);
    char path[4096];
    snprintf(path, sizeof(path), "%s/feature_store.yaml", dir);
    int rc = load_store_yaml(repo, path);
    if (!rc) {
        snprintf(path, sizeof(path), "%s/features.yaml", dir);
        rc = load_features_yaml(repo, path);
    }
    if (rc) {
        sao_fs_repo_free(repo);
        return rc;
    }
    *out = repo;
    return 0;
}

int sao_fs_online_config(sao_online_config *cfg, const sao_fs_repo *repo)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->connect_timeout_ms = 2000;
    cfg->retries = 3;
    long retries;
    if (sao_config_get_int("SAO_REDIS_RETRIES", &retries) == 0 && retries >= 0)
        cfg->retries = (int)retries;
    int rc = sao_online_parse_connection_string(cfg, repo->connection_string);
    if (rc) return rc;
    cfg->key_ttl_seconds = repo->key_ttl_seconds;
    sao_strlcpy(cfg->project, repo->project, sizeof(cfg->project));
    return 0;
}

/* ---- registry ---- */

int sao_fs_registry_path(char *buf, size_t size)
{
    return sao_home_path(buf, size, "registry.json");
}

static int registry_load(json_t **out)
{
    char path[4096];
    int rc = sao_fs_registry_path(path, sizeof(path));
    if (rc) return rc;
    char *text = NULL;
    size_t len;
    rc = sao_file_read(&text, &len, path, 64u * 1024 * 1024);
    if (rc == SAO_ENOENT) {
        *out = json_pack("{s:i, s:o, s:o}", "version", 1, "feature_views", json_object(),
                         "materializations", json_object());
        return 0;
    }
    if (rc) return rc;
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    sao_free(text);
    if (!root || !json_is_object(root) || !json_is_object(json_object_get(root, "feature_views")) ||
        !json_is_object(json_object_get(root, "materializations"))) {
        json_decref(root);
        return sao_error_set(SAO_ECORRUPT, "%s: not a registry (line %d: %s)", path, err.line,
                             err.text);
    }
    *out = root;
    return 0;
}

static int registry_save(json_t *root)
{
    char path[4096];
    int rc = sao_fs_registry_path(path, sizeof(path));
    if (rc) return rc;
    rc = sao_mkdir_p(sao_config_get("SAO_HOME"));
    if (rc) return rc;
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) return sao_error_set(SAO_ENOMEM, "registry: cannot serialize");
    size_t len = strlen(text);
    rc = sao_file_write_atomic(path, text, len);
    free(text);
    return rc;
}

int sao_fs_registry_intervals(sao_fs_interval **out, size_t *count, const char *view)
{
    json_t *root;
    int rc = registry_load(&root);
    if (rc) return rc;
    json_t *list = json_object_get(json_object_get(root, "materializations"), view);
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    sao_fs_interval *iv = sao_calloc(n ? n : 1, sizeof(*iv));
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(list, i);
        iv[i].start_us = json_integer_value(json_object_get(item, "start_us"));
        iv[i].end_us = json_integer_value(json_object_get(item, "end_us"));
    }
    json_decref(root);
    *out = iv;
    *count = n;
    return 0;
}

int sao_fs_registry_add_interval(const char *view, int64_t start_us, int64_t end_us)
{
    json_t *root;
    int rc = registry_load(&root);
    if (rc) return rc;
    json_t *mats = json_object_get(root, "materializations");
    json_t *list = json_object_get(mats, view);
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(mats, view, list);
    }
    json_array_append_new(list, json_pack("{s:I, s:I, s:I}", "start_us", (json_int_t)start_us,
                                          "end_us", (json_int_t)end_us, "recorded_us",
                                          (json_int_t)sao_now_us()));
    rc = registry_save(root);
    json_decref(root);
    return rc;
}

/* The definition of a view as the registry stores it; apply compares these to find changes. */
static json_t *view_json(const sao_fs_repo *repo, const sao_fs_view *v)
{
    json_t *fields = json_array();
    for (size_t i = 0; i < v->field_count; i++) {
        const sao_fs_field *f = &v->fields[i];
        json_t *jf = json_pack("{s:s, s:s, s:s, s:s}", "name", f->name, "dtype",
                               dtype_name(f->dtype), "params", f->params, "description",
                               f->description);
        if (f->window_view) {
            json_object_set_new(jf, "from_view", json_string(f->window_view));
            json_object_set_new(jf, "from_feature", json_string(f->window_feature));
        }
        json_array_append_new(fields, jf);
    }
    json_t *jv = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:o}", "name", v->name, "kind",
                           kind_name(v->kind), "description", v->description, "ttl_seconds",
                           (json_int_t)v->ttl_seconds, "context_length", v->context_length,
                           "entity", repo->entity, "fields", fields);
    json_object_set_new(jv, "source", v->source ? json_string(v->source) : json_null());
    return jv;
}

static void report_add(char ***list, size_t *count, const char *fmt, const char *name)
{
    char line[256];
    snprintf(line, sizeof(line), fmt, name);
    *list = sao_realloc(*list, (*count + 1) * sizeof(**list));
    (*list)[(*count)++] = sao_strdup(line);
}

void sao_fs_apply_report_dispose(sao_fs_apply_report *report)
{
    if (!report) return;
    for (size_t i = 0; i < report->created_count; i++) sao_free(report->created[i]);
    for (size_t i = 0; i < report->updated_count; i++) sao_free(report->updated[i]);
    for (size_t i = 0; i < report->deleted_count; i++) sao_free(report->deleted[i]);
    sao_free(report->created);
    sao_free(report->updated);
    sao_free(report->deleted);
    memset(report, 0, sizeof(*report));
}

/* Path of `target` relative to the folder `from` (both made absolute), for features.py. */
static void relative_path(char *out, size_t size, const char *from, const char *target)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(from, a) || !realpath(target, b)) {
        sao_strlcpy(out, target, size);
        return;
    }
    size_t common = 0, i = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '/') common = i;
        i++;
    }
    if (!a[i] && (b[i] == '/' || !b[i])) common = i;
    sao_buf buf;
    sao_buf_init(&buf, size - 1);
    for (const char *p = a + common; *p; p++)
        if (*p == '/') sao_buf_append(&buf, "../", 3);
    const char *rest = b + common + (b[common] == '/' ? 1 : 0);
    if (*rest) sao_buf_append(&buf, rest, strlen(rest));
    sao_strlcpy(out, buf.data && buf.len ? buf.data : ".", size);
    sao_buf_dispose(&buf);
}

static void py_string(sao_buf *b, const char *s)
{
    sao_buf_append(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') sao_buf_append(b, "\\", 1);
        if ((unsigned char)*s >= 0x20) sao_buf_append(b, s, 1);
    }
    sao_buf_append(b, "\"", 1);
}

/* Feast definitions equivalent to the repository, so `feast apply` works on the same folder. */
static int write_features_py(const sao_fs_repo *repo, char *path_out, size_t path_size)
{
    sao_buf b;
    sao_buf_init(&b, 0);
    sao_buf_appendf(&b,
                    "# Feast definitions generated by `sao apply` from features.yaml: the same\n"
                    "# entity, sources and feature views, so a Feast client can use this\n"
                    "# repository and read the online store that stock-agent-ops writes.\n"
                    "# Regenerated on every apply; edit features.yaml instead.\n"
                    "from datetime import timedelta\n\n"
                    "from feast import Entity, FeatureView, Field, FileSource, PushSource, "
                    "ValueType\n"
                    "from feast.types import Array, Float64, Int64, String\n\n");
    sao_buf_appendf(&b, "%s = Entity(name=\"%s\", join_keys=[\"%s\"], value_type=ValueType.STRING)\n\n",
                    repo->entity, repo->entity, repo->join_key);
    for (size_t i = 0; i < repo->view_count; i++) {
        const sao_fs_view *v = &repo->views[i];
        if (!v->source) continue;
        char abs[4096], rel[4096];
        sao_home_path(abs, sizeof(abs), v->source);
        sao_mkdir_p(abs);
        relative_path(rel, sizeof(rel), repo->dir, abs);
        sao_buf_appendf(&b, "%s_source = FileSource(\n    name=\"%s_source\",\n    path=", v->name,
                        v->name);
        py_string(&b, rel);
        sao_buf_appendf(&b, ",\n    timestamp_field=\"event_timestamp\",\n"
                            "    created_timestamp_column=\"created\",\n)\n\n");
    }
    for (size_t i = 0; i < repo->view_count; i++) {
        const sao_fs_view *v = &repo->views[i];
        if (!v->source) {
            /* Window views are computed by `sao materialize` and pushed online; Feast needs a
             * batch source for a push source, so it names the first view the window reads. */
            const char *batch = v->fields[0].window_view;
            sao_buf_appendf(&b, "%s_push = PushSource(name=\"%s_push\", batch_source=%s_source)\n\n",
                            v->name, v->name, batch);
        }
        sao_buf_appendf(&b, "%s = FeatureView(\n    name=\"%s\",\n    entities=[%s],\n"
                            "    ttl=timedelta(seconds=%lld),\n    schema=[\n",
                        v->name, v->name, repo->entity, (long long)v->ttl_seconds);
        for (size_t k = 0; k < v->field_count; k++) {
            const sao_fs_field *f = &v->fields[k];
            const char *t = f->dtype == SAO_FS_FLOAT64_LIST ? "Array(Float64)"
                            : f->dtype == SAO_FS_INT64      ? "Int64"
                            : f->dtype == SAO_FS_STRING     ? "String"
                                                            : "Float64";
            sao_buf_appendf(&b, "        Field(name=\"%s\", dtype=%s", f->name, t);
            if (*f->description) {
                sao_buf_append(&b, ", description=", 14);
                py_string(&b, f->description);
            }
            if (*f->params) {
                sao_buf_append(&b, ", tags={\"params\": ", 18);
                py_string(&b, f->params);
                sao_buf_append(&b, "}", 1);
            }
            sao_buf_append(&b, "),\n", 3);
        }
        sao_buf_appendf(&b, "    ],\n    source=%s_%s,\n    online=True,\n    description=",
                        v->name, v->source ? "source" : "push");
        py_string(&b, v->description);
        sao_buf_appendf(&b, ",\n    tags={\"kind\": \"%s\"},\n)\n\n", kind_name(v->kind));
    }
    snprintf(path_out, path_size, "%s/features.py", repo->dir);
    int rc = sao_file_write_atomic(path_out, b.data, b.len);
    sao_buf_dispose(&b);
    return rc;
}

int sao_fs_apply(sao_fs_apply_report *report, const sao_fs_repo *repo)
{
    memset(report, 0, sizeof(*report));
    json_t *root;
    int rc = registry_load(&root);
    if (rc) return rc;
    json_t *old_views = json_object_get(root, "feature_views");
    json_t *mats = json_object_get(root, "materializations");
    json_t *new_views = json_object();
    json_t *old_entity = json_object_get(root, "entity");
    json_t *entity = json_pack("{s:s, s:s, s:s}", "name", repo->entity, "join_key",
                               repo->join_key, "value_type", "STRING");
    if (!old_entity) report_add(&report->created, &report->created_count, "Entity %s", repo->entity);
    else if (!json_equal(old_entity, entity))
        report_add(&report->updated, &report->updated_count, "Entity %s", repo->entity);

    for (size_t i = 0; i < repo->view_count; i++) {
        const sao_fs_view *v = &repo->views[i];
        json_t *jv = view_json(repo, v);
        json_t *old = json_object_get(old_views, v->name);
        if (!old) {
            report_add(&report->created, &report->created_count, "FeatureView %s", v->name);
        } else if (!json_equal(old, jv)) {
            /* A changed definition starts over: its old intervals describe other data. */
            report_add(&report->updated, &report->updated_count, "FeatureView %s", v->name);
            json_object_del(mats, v->name);
        }
        json_object_set_new(new_views, v->name, jv);
    }
    const char *key;
    json_t *value;
    json_object_foreach(old_views, key, value)
    {
        if (!json_object_get(new_views, key)) {
            report_add(&report->deleted, &report->deleted_count, "FeatureView %s", key);
            json_object_del(mats, key);
        }
    }
    json_object_set(root, "feature_views", new_views);
    json_decref(new_views);
    json_object_set_new(root, "entity", entity);
    json_object_set_new(root, "project", json_string(repo->project));
    json_object_set_new(root, "applied_us", json_integer((json_int_t)sao_now_us()));

    rc = write_features_py(repo, report->features_py, sizeof(report->features_py));
    if (!rc) rc = registry_save(root);
    json_decref(root);
    if (rc) sao_fs_apply_report_dispose(report);
    return rc;
}
