// FUZZ_SOURCES: src/config/*.c
/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the pgbouncer.ini loader: the input becomes a
 * config file, which is loaded, shown and freed. Build with clang
 * -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc, linking every
 * source of src/config and this file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One scratch file per process, reused for every input. */
static char path[64];

static void remove_scratch(void)
{
	if (path[0])
		unlink(path);
}

static int scratch_file(void)
{
	int fd;

	if (path[0])
		return 0;
	snprintf(path, sizeof(path), "/tmp/pgswitch_fuzz_cfg_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		path[0] = '\0';
		return -1;
	}
	close(fd);
	atexit(remove_scratch);
	return 0;
}

/* Also exercise SET and SHOW on whatever loaded. */
static void poke(cfg_t *cfg)
{
	cfg_show_row_t row;
	char err[256];
	size_t i;

	for (i = 0; cfg_show(cfg, i, &row); i++)
		;
	cfg_set(cfg, "pool_mode", "transaction", err, sizeof(err));
	cfg_set(cfg, "query_timeout", "1.5min", err, sizeof(err));
	for (i = 0; i < cfg->ndbs; i++)
		(void)cfg_db_pool_size(cfg, &cfg->dbs[i], NULL);
	(void)cfg_list_contains(cfg->admin_users, "admin");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cfg_diags_t diags;
	cfg_t *cfg;
	FILE *f;

	if (scratch_file() < 0)
		return 0;
	f = fopen(path, "wb");
	if (!f)
		return 0;
	if (size && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);

	cfg_diags_init(&diags);
	cfg = cfg_load(path, &diags);
	if (cfg)
		poke(cfg);
	cfg_free(cfg);
	cfg_diags_free(&diags);
	return 0;
}
