"""The command line's exit codes (a module of its own: read before anything heavy is imported)."""

EXIT_FAILED = 1  # a run failed (diverged, or a file could not be written)
EXIT_USAGE = 2  # bad input
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (or SIGTERM, SIGHUP), as shells report SIGINT
