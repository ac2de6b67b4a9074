/* sonda.c - the `sonda` binary: dispatch to one command per cmd-*.c. */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_command *commands[] = {
#define CLI_COMMAND(name) &cli_cmd_##name,
#include "cli/commands.h"
#undef CLI_COMMAND
	NULL
};

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sonda: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const struct cli_command *cli_find(const char *name)
{
	for (size_t i = 0; commands[i]; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int cli_usage(const struct cli_command *c, FILE *f, int status)
{
	fputs(c->usage, f);
	return status;
}

int cli_bad_usage(const struct cli_command *c)
{
	fprintf(stderr, "see 'sonda help %s'\n", c->name);
	return 2;
}

static int print_help(FILE *f, int status)
{
	fprintf(f, "usage: sonda [--version] [--help] <command> [<args>]\n\n"
		   "Where does my program's time and memory go?\n\n"
		   "Commands:\n");
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "   %-9s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nSee 'sonda help <command>' or 'man sonda-<command>' for one command.\n");
	return status;
}

static int run_help(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2)
		return print_help(stdout, 0);
	c = cli_find(argv[1]);
	if (!c) {
		cli_error("'%s' is not a sonda command; see 'sonda --help'", argv[1]);
		return 2;
	}
	return cli_usage(c, stdout, 0);
}

int main(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2)
		return print_help(stderr, 2);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return print_help(stdout, 0);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("sonda %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help"))
		return run_help(argc - 1, argv + 1);
	c = cli_find(argv[1]);
	if (!c) {
		cli_error("'%s' is not a sonda command; see 'sonda --help'", argv[1]);
		return 2;
	}
	return c->run(argc - 1, argv + 1);
}
