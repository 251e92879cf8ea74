"""What the command-line scripts share: the --help formatter and the one-line error."""

from __future__ import annotations

import argparse
import sys

USAGE_ERROR = 2  # exit code for a bad argument, input file or model: argparse's own for usage errors


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every default and the description as written; options whose default is None (decided at run
    time, or per --arch) say their default in their own help instead of a meaningless "(default: None)"."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def fail(program: str, message: str) -> int:
    """Print ``program: error: message`` on stderr, as argparse words its own errors; return USAGE_ERROR."""
    print(f"{program}: error: {message}", file=sys.stderr)
    return USAGE_ERROR
