/* cli.h - what every `sonda <command>` shares: the command table and error output. */
#ifndef SONDA_CLI_H
#define SONDA_CLI_H

#include <stdio.h>

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the command name; returns the exit status */
	const char *summary;			/* one line for `sonda --help` */
	const char *usage;			/* the full text of `sonda help CMD` and `CMD --help` */
};

/* Each cmd-NAME.c defines `const struct cli_command cli_cmd_NAME`. */
#define CLI_COMMAND(name) extern const struct cli_command cli_cmd_##name;
#include "cli/commands.h"
#undef CLI_COMMAND

const struct cli_command *cli_find(const char *name);
/* Prints "sonda: MESSAGE\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the command's usage to f and returns status. */
int cli_usage(const struct cli_command *c, FILE *f, int status);
/* For a bad option: "sonda: CMD: unknown option ..." is getopt's; this adds
 * "see 'sonda help CMD'" and returns 2. */
int cli_bad_usage(const struct cli_command *c);

#endif
