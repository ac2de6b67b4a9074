/* The command table, in the order `sonda --help` lists them: one
 * CLI_COMMAND(name) per cli/cmd-NAME.c, which defines cli_cmd_NAME.
 * A command is listed only once it works. */
CLI_COMMAND(record)
CLI_COMMAND(dump)
CLI_COMMAND(top)
CLI_COMMAND(run)
CLI_COMMAND(recover)
CLI_COMMAND(info)
CLI_COMMAND(report)
CLI_COMMAND(export)
CLI_COMMAND(diff)
