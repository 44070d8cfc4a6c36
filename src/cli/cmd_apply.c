/*
 * `sao apply`: validates the feature repository, records it in the registry and writes
 * features.py for Feast; prints what was created, updated and deleted, as `feast apply` does.
 */
#include <string.h>

#include "cli.h"
#include "store/store.h"

void sao_cmd_apply_help(FILE *out)
{
    fprintf(out, "usage: sao apply [--repo DIR]\n\n"
                 "Validates DIR/feature_store.yaml (Feast's schema) and DIR/features.yaml (the entity\n"
                 "and feature views), records them in $SAO_HOME/registry.json and writes\n"
                 "DIR/features.py, the same definitions for Feast. On any error nothing changes.\n\n"
                 "  --repo DIR   feature repository (default SAO_FEATURE_REPO, 'feature_store')\n");
}

int sao_cmd_apply(int argc, char **argv)
{
    const char *repo_dir = NULL, *v;
    for (int i = 1; i < argc; i++) {
        int r = sao_cli_option(argc, argv, &i, "repo", &v);
        if (r < 0) return SAO_EXIT_USAGE;
        if (r) {
            repo_dir = v;
            continue;
        }
        fprintf(stderr, "sao apply: unexpected argument '%s'\n", argv[i]);
        return SAO_EXIT_USAGE;
    }
    sao_fs_repo *repo = NULL;
    int rc = sao_fs_repo_load(&repo, repo_dir);
    if (rc) return sao_cli_fail("apply", rc, "invalid feature repository");
    sao_fs_apply_report report;
    rc = sao_fs_apply(&report, repo);
    if (rc) {
        sao_fs_repo_free(repo);
        return sao_cli_fail("apply", rc, "cannot update the registry");
    }
    for (size_t i = 0; i < report.created_count; i++) printf("Created %s\n", report.created[i]);
    for (size_t i = 0; i < report.updated_count; i++) printf("Updated %s\n", report.updated[i]);
    for (size_t i = 0; i < report.deleted_count; i++) printf("Deleted %s\n", report.deleted[i]);
    if (!report.created_count && !report.updated_count && !report.deleted_count)
        printf("No changes to the registry (%zu feature views)\n", repo->view_count);
    char registry[4096];
    sao_fs_registry_path(registry, sizeof(registry));
    printf("Registry: %s\nFeast definitions: %s\n", registry, report.features_py);
    sao_fs_apply_report_dispose(&report);
    sao_fs_repo_free(repo);
    return SAO_EXIT_OK;
}
