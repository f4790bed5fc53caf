/* SPDX-License-Identifier: MIT */
/*
 * client_hba.c - auth_type = hba: which method a connection gets, from
 * the first matching rule of auth_hba_file, and the auth_ident_file maps
 * for peer and cert.
 */
#include <string.h>

#include "conn/conn_int.h"
#include "conn/conn.h"

bool client_hba_method(client_t *c, int *method)
{
	client_close(c, "28000", "auth_type hba is not supported yet");
	(void)method;
	return false;
}

bool client_ident_match(client_t *c, const char *map, const char *system_name)
{
	(void)c;
	(void)map;
	(void)system_name;
	return false;
}
