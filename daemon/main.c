/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/main.c - trackerd entry point: command line and configuration.
 *
 * Parses argv, builds the configuration (built-in defaults, then the file,
 * then each -o override, then the cross-key checks) and hands over to
 * sup_run(), which owns the process from then on. Nothing here opens a
 * socket or forks; --check-config and --print-config therefore run safely
 * next to a live daemon.
 *
 * Command-line rules (documented in trackerd(8)):
 *  - Without -c, CONF_DEFAULT_PATH is read if it exists; if it does not,
 *    trackerd runs on built-in defaults (so a fresh checkout can just run).
 *    Any other failure to read it (permissions, not a file) is an error.
 *    With -c the file must exist. -c may be given once.
 *  - -o KEY=VALUE is applied after the file, in order, and kept for
 *    sup_run() so every reload re-applies it.
 *  - Exit status: 0 ok, 2 usage error, 78 configuration error, otherwise
 *    whatever sup_run() returns (1 for a runtime failure).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/sup.h"

#ifndef TRACKERD_VERSION
#define TRACKERD_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2

/* Results of the command line (one struct, see STYLE.md 2.2). */
static struct options {
	const char *config_path; /* -c, NULL = CONF_DEFAULT_PATH if present */
	const char **overrides; /* -o, in order */
	unsigned noverrides;
	bool check_config;
	bool print_config;
	bool version;
	bool help;
} arg;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trackerd [-c FILE] [-o KEY=VALUE]... [--check-config] [--print-config]\n"
		"                [--version] [-h]\n"
		"\n"
		"BitTorrent UDP tracker (BEP 15). Runs in the foreground.\n"
		"\n"
		"  -c, --config FILE      read FILE instead of %s\n"
		"  -o, --option KEY=VALUE set a configuration key, after the file (repeatable)\n"
		"      --check-config     check the configuration, print 'configuration ok'\n"
		"      --print-config     print every key with its value, default and meaning\n"
		"      --version          print the version\n"
		"  -h, --help             print this help\n"
		"\n"
		"Exit status: 0 ok, 1 runtime failure, 2 usage error, 78 configuration error.\n"
		"See trackerd(8) and trackerd.conf(5).\n",
		CONF_DEFAULT_PATH);
}

static int usage_error(const char *msg, const char *what)
{
	fprintf(stderr, "trackerd: %s%s%s%s\nTry 'trackerd --help'.\n", msg, what ? " '" : "",
		what ? what : "", what ? "'" : "");
	return EXIT_USAGE;
}

/* Returns -1 to go on, or the exit status. */
static int parse_argv(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_PRINT, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "option", required_argument, NULL, 'o' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "print-config", no_argument, NULL, OPT_PRINT },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* argc bounds the number of -o options. */
	arg.overrides = calloc((size_t)argc + 1, sizeof(*arg.overrides));
	if (!arg.overrides) {
		fprintf(stderr, "trackerd: out of memory\n");
		return 1;
	}
	while ((ch = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (arg.config_path)
				return usage_error("-c given more than once", NULL);
			if (!*optarg)
				return usage_error("-c needs a file name", NULL);
			arg.config_path = optarg;
			break;
		case 'o':
			arg.overrides[arg.noverrides++] = optarg;
			break;
		case OPT_CHECK:
			arg.check_config = true;
			break;
		case OPT_PRINT:
			arg.print_config = true;
			break;
		case OPT_VERSION:
			arg.version = true;
			break;
		case 'h':
			arg.help = true;
			break;
		default:
			/* getopt_long already said what was wrong. */
			fprintf(stderr, "Try 'trackerd --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (arg.check_config && arg.print_config)
		return usage_error("--check-config and --print-config exclude each other", NULL);
	return -1;
}

/* Defaults, file, overrides, validation. Returns 0 or CONF_EXIT_CONFIG. */
static int build_conf(struct conf *c, const char **ret_path)
{
	const char *path = arg.config_path ? arg.config_path : CONF_DEFAULT_PATH;
	char err[CONF_ERR_MAX];
	int r;

	r = conf_load(c, path, arg.overrides, arg.noverrides, err, sizeof(err));
	if (r == -ENOENT && !arg.config_path) {
		path = NULL;
		r = conf_load(c, NULL, arg.overrides, arg.noverrides, err, sizeof(err));
	}
	if (r < 0) {
		log_msg(LOG_ERR, "%s", err);
		return CONF_EXIT_CONFIG;
	}
	*ret_path = path;
	return 0;
}

int main(int argc, char **argv)
{
	struct sup_args sargs;
	const char *path;
	struct conf c;
	int r;

	/* Early, so configuration errors get journald priorities too. */
	log_init(LOG_INFO, "sup");

	r = parse_argv(argc, argv);
	if (r >= 0)
		return r;
	if (arg.help) {
		usage(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (arg.version) {
		printf("trackerd %s\n", TRACKERD_VERSION);
		return fflush(stdout) == 0 ? 0 : 1;
	}

	r = build_conf(&c, &path);
	if (r)
		return r;
	if (arg.check_config) {
		printf("configuration ok\n");
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (arg.print_config) {
		printf("# trackerd %s: effective configuration from %s%s\n", TRACKERD_VERSION,
		       path ? path : "built-in defaults", arg.noverrides ? " and -o options" : "");
		conf_print(&c, stdout);
		return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
	}

	log_init(c.log_level, "sup");
	if (!path)
		log_msg(LOG_NOTICE, "%s not found, running on built-in defaults",
			CONF_DEFAULT_PATH);
	sargs.config_path = path;
	sargs.overrides = arg.overrides;
	sargs.noverrides = arg.noverrides;
	return sup_run(&c, &sargs);
}
